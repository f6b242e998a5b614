"""Pure decisions: `decide(state, message, now) -> (new_state, outputs)` per participant.
No Kafka, no await, no I/O: every transition is unit-testable in microseconds."""
