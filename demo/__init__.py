"""``make demo``: the webshop scenario, run against the vendors' sandboxes."""
