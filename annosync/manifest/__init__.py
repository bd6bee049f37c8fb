"""Manifests: loading YAML runs with line numbers and ``${VAR}`` (``load``), sample selection
over a dataset folder (``select``), what the selected samples hold (``observe``), the rules of
the reference (``rules``), ``annosync validate`` (``validate``) and the JSON Schemas
(``schemas``)."""
