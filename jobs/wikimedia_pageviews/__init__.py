"""Wikipedia pageviews: hourly dumps of N days to the most/least requested article and the top 5
categories of each day (see the contract's "Wikipedia" section).

Flow: `extract.land` downloads the day's 24 hourly files (named by the END of their hour: day D is
D-010000 ... (D+1)-000000) and the five SQL dumps into `LAKE_ROOT/raw/wikimedia/` (parallel,
streamed, verified, skipped when already landed; a 404 hour is recorded and lowers `hours`).
`sqldump` parses the dumps in Spark tasks; `transform` holds every rule as a pure function;
`load` replaces exactly the wiki's days (or the wiki's dimensions) with Delta `replaceWhere`.

Tables (paths in `common.tables`):
- `wikimedia/articles` (wiki, page_id, title): namespace-0 pages that are not redirects.
- `wikimedia/redirects` (wiki, page_id, title, target_title): namespace-0 redirects whose target
  (one hop, no interwiki) is an article.
- `wikimedia/category_members` (wiki, page_id, title, category, hidden): article members
  (`cl_type = 'page'`); `hidden` from `page_props.hiddencat` on the category page (namespace 14).
- `wikimedia/pageviews_daily` (wiki, day, title, views), partitioned by day: article views after
  normalisation and redirect resolution, main page excluded.
- gold `wikimedia/daily_summary` (wiki, day, hours, complete, most_title, most_views, least_title,
  least_views, least_ties) and `wikimedia/daily_top_categories` (wiki, day, rank, category, views,
  articles). A day with no article view keeps null most/least columns and no category rows.

Title normalisation follows enwiki: spaces to `_`, first code point upper-cased unless its upper
case is several code points (`ß` stays, as MediaWiki's ucfirst overrides keep it). Lines of the
wiki's domain codes that do not split into 4 fields with integer views are skipped and counted;
lines of other projects are not inspected.
"""
