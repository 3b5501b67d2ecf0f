package io.eventfold.bench;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * One order event as JSON: {"type": "...", ...fields}. The union of the
 * fields of the six event types of demo/orders (events.go); a missing field
 * is its zero value, as in Go. Unknown fields ("meta") are ignored.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public final class Event {
    @JsonProperty("type") public String type;
    // OrderCreated
    @JsonProperty("customer_id") public String customerId;
    @JsonProperty("created_at") public String createdAt;
    // ItemAdded, QuantityChanged
    @JsonProperty("sku") public String sku;
    @JsonProperty("quantity") public long quantity;
    @JsonProperty("price_cents") public long priceCents;
    // OrderApproved
    @JsonProperty("approved_by") public String approvedBy;
    // OrderShipped
    @JsonProperty("carrier") public String carrier;
    @JsonProperty("tracking_number") public String trackingNumber;
    // OrderCancelled
    @JsonProperty("reason") public String reason;
}
