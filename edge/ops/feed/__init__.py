"""The waste feed for the forecasting side: `qc waste export` writes the store's waste aggregates to Parquet
(partitioned by date) and upserts them into the ``waste_feed`` SQL table; see `edge.store.waste` for the rows."""
