"""The embedded world: emulated AWS accounts, directory and Okta, and its persistence."""
