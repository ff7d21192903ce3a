"""okta-aws: Okta → AWS federation across many accounts, as code."""
