"""Staff dashboard reads that compose other capabilities: patient search, family, messages, audit browsing."""
