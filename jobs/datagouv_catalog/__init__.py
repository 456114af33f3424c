"""data.gouv.fr catalogue: mobility/transport datasets, CSV export to S3, top-30 organizations to Mongo."""
