"""Code shared by the online API and the offline pipelines: settings, logging, adapters."""
