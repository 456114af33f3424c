"""Wikipedia pageviews: hourly dumps of N days to the most/least requested article and the top 5
categories of each day (see the contract's "Wikipedia" section)."""
