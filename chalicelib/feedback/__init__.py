"""Post-visit surveys, review links, referrals and the public practice page (issue 7)."""
