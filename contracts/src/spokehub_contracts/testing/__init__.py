"""The conformance kit: pytest helpers a vendor runs offline against their own spoke."""
