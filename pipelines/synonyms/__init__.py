"""Merchandiser-edited synonyms: parse and validate the Solr files, apply them with zero downtime."""
