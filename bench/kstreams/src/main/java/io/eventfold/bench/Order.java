package io.eventfold.bench;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonPropertyOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The folded state of one order: a port of demo/orders.Order whose JSON is
 * byte-for-byte what Go's encoding/json writes for it (field order, omitempty).
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonPropertyOrder({"status", "customer_id", "created_at", "items", "total_cents",
        "approved_by", "carrier", "tracking_number", "cancel_reason"})
public final class Order {
    public static final String CREATED = "created", APPROVED = "approved",
            SHIPPED = "shipped", CANCELLED = "cancelled";

    @JsonProperty("status") public String status = "";
    @JsonProperty("customer_id") public String customerId = "";
    @JsonInclude(JsonInclude.Include.NON_EMPTY) @JsonProperty("created_at") public String createdAt;
    @JsonInclude(JsonInclude.Include.NON_EMPTY) @JsonProperty("items") public List<Item> items = new ArrayList<>();
    @JsonProperty("total_cents") public long totalCents;
    @JsonInclude(JsonInclude.Include.NON_EMPTY) @JsonProperty("approved_by") public String approvedBy;
    @JsonInclude(JsonInclude.Include.NON_EMPTY) @JsonProperty("carrier") public String carrier;
    @JsonInclude(JsonInclude.Include.NON_EMPTY) @JsonProperty("tracking_number") public String trackingNumber;
    @JsonInclude(JsonInclude.Include.NON_EMPTY) @JsonProperty("cancel_reason") public String cancelReason;

    @JsonPropertyOrder({"sku", "quantity", "price_cents"})
    public static final class Item {
        @JsonProperty("sku") public String sku;
        @JsonProperty("quantity") public long quantity;
        @JsonProperty("price_cents") public long priceCents;

        public Item() {}

        Item(String sku, long quantity, long priceCents) {
            this.sku = sku;
            this.quantity = quantity;
            this.priceCents = priceCents;
        }
    }

    boolean exists() { return status != null && !status.isEmpty(); }

    private static boolean empty(String s) { return s == null || s.isEmpty(); }

    /** Index of sku in the sorted items, or -(insertion point) - 1 (binary search, like Go's find). */
    private int find(String sku) {
        int lo = 0, hi = items.size() - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            int c = items.get(mid).sku.compareTo(sku);
            if (c < 0) lo = mid + 1;
            else if (c > 0) hi = mid - 1;
            else return mid;
        }
        return -(lo + 1);
    }

    private void retotal() {
        long t = 0;
        for (Item it : items) t += it.quantity * it.priceCents;
        totalCents = t;
    }

    /**
     * orders.Evolve: applies e to o in place (o is a freshly decoded copy)
     * and returns o, or returns null when e is an invalid transition, having
     * changed nothing. o is null for an order without state yet.
     */
    static Order evolve(Order o, Event e) {
        if (e.type == null) return null;
        boolean exists = o != null && o.exists();
        if (!e.type.equals("OrderCreated") && !exists) return null; // order does not exist
        switch (e.type) {
            case "OrderCreated": {
                if (exists || empty(e.customerId)) return null;
                Order n = new Order();
                n.status = CREATED;
                n.customerId = e.customerId;
                n.createdAt = e.createdAt;
                return n;
            }
            case "ItemAdded": {
                if (!CREATED.equals(o.status)) return null;
                if (empty(e.sku) || e.quantity <= 0 || e.priceCents < 0) return null;
                int i = o.find(e.sku);
                if (i >= 0) return null; // already in the order
                o.items.add(-i - 1, new Item(e.sku, e.quantity, e.priceCents));
                o.retotal();
                return o;
            }
            case "QuantityChanged": {
                if (!CREATED.equals(o.status)) return null;
                if (e.quantity <= 0) return null;
                int i = o.find(e.sku == null ? "" : e.sku);
                if (i < 0) return null; // not in the order
                o.items.get(i).quantity = e.quantity;
                o.retotal();
                return o;
            }
            case "OrderApproved": {
                if (!CREATED.equals(o.status) || o.items.isEmpty()) return null;
                o.status = APPROVED;
                o.approvedBy = e.approvedBy;
                return o;
            }
            case "OrderShipped": {
                if (!APPROVED.equals(o.status)) return null;
                o.status = SHIPPED;
                o.carrier = e.carrier;
                o.trackingNumber = e.trackingNumber;
                return o;
            }
            case "OrderCancelled": {
                if (SHIPPED.equals(o.status) || CANCELLED.equals(o.status)) return null;
                o.status = CANCELLED;
                o.cancelReason = e.reason;
                return o;
            }
            default:
                return null; // unknown event type: eventfold dead-letters it, goka skips it
        }
    }
}
