// Package codec turns bytes into typed events and states and back.
//
// Stage 0 of the pipeline: everything eventfold reads from or writes to Kafka
// passes through a Codec. Undecodable input is an error value (a *DecodeError
// wrapping ErrDecode), never a panic, so the processor can send it to the
// dead-letter topic and keep going.
//
// Events of one entity type are usually a family of Go types (OrderCreated,
// ItemAdded, ...). Union encodes them as JSON objects with a "type"
// discriminator: {"type":"ItemAdded","sku":"A-1","qty":5}.
package codec
