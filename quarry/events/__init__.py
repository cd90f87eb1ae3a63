"""Events: the schemas, validation and storage of UBI events, shared by the API and replay."""
