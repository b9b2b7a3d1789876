"""What the results views show, as JSON-ready payloads read from the store (either backend): the
hazard curves and spectra of a site. Pure reads; the Airflow UI plugin serves them."""
