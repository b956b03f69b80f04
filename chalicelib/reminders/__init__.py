"""Reminder engine: policy, touches, the minute sweep, messages, two-way SMS, email feedback."""
