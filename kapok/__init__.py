"""Cross-cutting pieces of Red Kapok: settings, errors, embedded services, logging."""
