"""The staff inbox: items any capability opens (replies, opt-outs, feedback, requests), worked by staff."""
