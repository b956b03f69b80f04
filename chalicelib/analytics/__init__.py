"""Analytics, ROI and worklists from roll-ups maintained on write (see model.py and store.py)."""
