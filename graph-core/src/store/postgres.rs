//! The PostgreSQL store: one table shared by many workers on many machines.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use futures::{pin_mut, TryStreamExt};
use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{
    below, check_key, decode_item, ttl_micros, Item, ListNamespaces, Namespace, Pager, SearchQuery,
    Store, StoreError,
};

/// The server's clock, in microseconds since the Unix epoch, fixed for one statement.
macro_rules! now {
    () => {
        "(extract(epoch FROM statement_timestamp()) * 1000000)::bigint"
    };
}

/// Namespaces are stored as dotted paths under the `C` collation, so they sort as
/// [`Namespace`]s do; times and times to live are microseconds.
const SCHEMA: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS graph_store (
        namespace  TEXT COLLATE "C" NOT NULL,
        key        TEXT COLLATE "C" NOT NULL,
        value      JSONB NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        ttl        BIGINT,
        expires_at BIGINT,
        PRIMARY KEY (namespace, key)
    )"#,
    "CREATE INDEX IF NOT EXISTS graph_store_by_expiry ON graph_store (expires_at)
        WHERE expires_at IS NOT NULL",
];

/// A put: a live item keeps `created_at` and its `updated_at` moves forward by at least a
/// microsecond; an expired one is replaced as if new.
const PUT: &str = concat!(
    "INSERT INTO graph_store AS s (namespace, key, value, created_at, updated_at, ttl, expires_at)
     SELECT $1, $2, $3::text::jsonb, t.now, t.now, $4::bigint, t.now + $4::bigint
     FROM (SELECT ",
    now!(),
    " AS now) t
     ON CONFLICT (namespace, key) DO UPDATE SET
         value = excluded.value,
         created_at = CASE WHEN s.expires_at <= excluded.updated_at
             THEN excluded.created_at ELSE s.created_at END,
         updated_at = CASE WHEN s.expires_at <= excluded.updated_at
             THEN excluded.updated_at ELSE GREATEST(excluded.updated_at, s.updated_at + 1) END,
         ttl = excluded.ttl,
         expires_at = excluded.expires_at"
);

/// One live item, its time to live restarted in the same statement.
const GET: &str = concat!(
    "WITH hit AS (
         SELECT value::text AS value, created_at, updated_at FROM graph_store
         WHERE namespace = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > ",
    now!(),
    ")
     ), touched AS (
         UPDATE graph_store SET expires_at = ",
    now!(),
    " + ttl
         WHERE namespace = $1 AND key = $2 AND ttl IS NOT NULL AND expires_at > ",
    now!(),
    "
     )
     SELECT value, created_at, updated_at FROM hit"
);

/// The live items in namespace `$1` and below (`$2` to `$3`), in result order.
const SEARCH: &str = concat!(
    "SELECT namespace, key, value::text, created_at, updated_at, ttl FROM graph_store
     WHERE (expires_at IS NULL OR expires_at > ",
    now!(),
    ") AND (namespace = $1 OR (namespace >= $2 AND namespace < $3))
     ORDER BY updated_at DESC, namespace, key"
);

/// [`SEARCH`], one page of it: for a query without a filter.
const SEARCH_PAGE: &str = concat!(
    "SELECT namespace, key, value::text, created_at, updated_at, ttl FROM graph_store
     WHERE (expires_at IS NULL OR expires_at > ",
    now!(),
    ") AND (namespace = $1 OR (namespace >= $2 AND namespace < $3))
     ORDER BY updated_at DESC, namespace, key LIMIT $4 OFFSET $5"
);

/// Restarts the time to live of the live items at the pairs of `$1` and `$2`.
const REFRESH: &str = concat!(
    "UPDATE graph_store SET expires_at = ",
    now!(),
    " + ttl
     WHERE ttl IS NOT NULL AND expires_at > ",
    now!(),
    " AND (namespace, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
);

/// The namespaces of live items, in namespace `$1` and below (`$2` to `$3`) when `$1` is set.
const NAMESPACES: &str = concat!(
    "SELECT DISTINCT namespace FROM graph_store
     WHERE (expires_at IS NULL OR expires_at > ",
    now!(),
    ") AND ($1::text IS NULL OR namespace = $1 OR (namespace >= $2 AND namespace < $3))"
);

const SWEEP: &str = concat!("DELETE FROM graph_store WHERE expires_at <= ", now!());

/// Stores items in PostgreSQL, in the table `graph_store` (created when missing).
///
/// Times come from the server's clock, so workers on machines whose clocks differ still
/// agree on when an item expires. Values are stored as `jsonb`, which cannot hold the
/// NUL character (`\u0000`) in a string: such a value is refused with
/// [`StoreError::Backend`]. Expired items are deleted by [`Store::sweep`].
///
/// Calls share a small pool of connections (at most 8). A connection PostgreSQL drops (a
/// server restart, `pg_terminate_backend`, a network blip) fails the call using it, and
/// the next call reconnects. A failed write is never retried: its commit may have applied.
pub struct PostgresStore {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects with a libpq-style string, e.g.
    /// `host=127.0.0.1 user=postgres dbname=test`, and creates the table if needed.
    /// A URL (`postgresql://user@host/db`) works too.
    pub async fn connect(config: &str) -> Result<Self, StoreError> {
        Self::with_pool(crate::pg_pool::pool(config).map_err(StoreError::backend)?).await
    }

    /// Uses the connections of `pool`, which other parts of the application may share
    /// (keeping the process's connections to PostgreSQL few), and creates the table if
    /// needed. The store never holds one connection while waiting for another.
    pub async fn with_pool(pool: deadpool_postgres::Pool) -> Result<Self, StoreError> {
        let store = Self { pool };
        let mut client = store.client().await?;
        crate::pg_pool::create_tables(&mut client, SCHEMA).await.map_err(StoreError::backend)?;
        Ok(store)
    }

    /// A live connection from the pool, a new one when the server dropped the last.
    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(StoreError::backend)
    }
}

/// A row of `namespace, key, value, created_at, updated_at, ttl` as an item, and whether
/// it has a time to live.
fn read_row(row: &Row) -> Result<(Item, bool), StoreError> {
    let namespace: &str = row.try_get(0).map_err(StoreError::backend)?;
    let key: &str = row.try_get(1).map_err(StoreError::backend)?;
    let corrupt = |e: tokio_postgres::Error| StoreError::corrupt(namespace, key, e);
    let value: &str = row.try_get(2).map_err(corrupt)?;
    let (created_at, updated_at) =
        (row.try_get(3).map_err(corrupt)?, row.try_get(4).map_err(corrupt)?);
    let ttl: Option<i64> = row.try_get(5).map_err(corrupt)?;
    Ok((decode_item(namespace, key, value, created_at, updated_at)?, ttl.is_some()))
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for PostgresStore {
    async fn get(&self, namespace: &Namespace, key: &str) -> Result<Option<Item>, StoreError> {
        check_key(key)?;
        let path = namespace.to_string();
        let row = self
            .client()
            .await?
            .query_opt(GET, &[&path, &key])
            .await
            .map_err(StoreError::backend)?;
        let Some(row) = row else { return Ok(None) };
        let corrupt = |e: tokio_postgres::Error| StoreError::corrupt(&path, key, e);
        let value: &str = row.try_get(0).map_err(corrupt)?;
        let (created_at, updated_at) =
            (row.try_get(1).map_err(corrupt)?, row.try_get(2).map_err(corrupt)?);
        decode_item(&path, key, value, created_at, updated_at).map(Some)
    }

    async fn put(
        &self,
        namespace: &Namespace,
        key: &str,
        value: Value,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        check_key(key)?;
        let value = serde_json::to_string(&value).map_err(StoreError::backend)?;
        let ttl = ttl.map(ttl_micros);
        self.client()
            .await?
            .execute(PUT, &[&namespace.to_string(), &key, &value, &ttl])
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn delete(&self, namespace: &Namespace, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        self.client()
            .await?
            .execute(
                "DELETE FROM graph_store WHERE namespace = $1 AND key = $2",
                &[&namespace.to_string(), &key],
            )
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn search(
        &self,
        prefix: &Namespace,
        query: &SearchQuery,
    ) -> Result<Vec<Item>, StoreError> {
        let (exact, (from, to)) = (prefix.to_string(), below(prefix));
        let (limit, offset) = (count(query.limit), count(query.offset));
        // Without a filter the database pages; with one, rows stream in result order until
        // the page is full.
        let paged_by_sql;
        let (statement, params, paging): (_, Vec<&(dyn ToSql + Sync)>, _) =
            if query.filter.is_empty() {
                paged_by_sql = SearchQuery { offset: 0, ..query.clone() };
                (SEARCH_PAGE, vec![&exact, &from, &to, &limit, &offset], &paged_by_sql)
            } else {
                (SEARCH, vec![&exact, &from, &to], query)
            };
        let client = self.client().await?;
        let rows = client.query_raw(statement, params).await.map_err(StoreError::backend)?;
        pin_mut!(rows);
        let mut pager = Pager::new(paging, |(item, _): &(Item, bool)| &item.value);
        while !pager.is_full() {
            match rows.try_next().await.map_err(StoreError::backend)? {
                Some(row) => pager.offer(read_row(&row)?),
                None => break,
            }
        }
        let page = pager.finish();
        let expiring: Vec<&Item> =
            page.iter().filter(|(_, expiring)| *expiring).map(|(item, _)| item).collect();
        if query.refresh_ttl && !expiring.is_empty() {
            let namespaces: Vec<String> =
                expiring.iter().map(|item| item.namespace.to_string()).collect();
            let keys: Vec<&str> = expiring.iter().map(|item| item.key.as_str()).collect();
            client.execute(REFRESH, &[&namespaces, &keys]).await.map_err(StoreError::backend)?;
        }
        Ok(page.into_iter().map(|(item, _)| item).collect())
    }

    async fn list_namespaces(&self, query: &ListNamespaces) -> Result<Vec<Namespace>, StoreError> {
        let prefix = query.prefix.as_ref().map(|prefix| (prefix.to_string(), below(prefix)));
        let (exact, bounds) = prefix.unzip();
        let (from, to) = bounds.unzip();
        let rows = self
            .client()
            .await?
            .query(NAMESPACES, &[&exact, &from, &to])
            .await
            .map_err(StoreError::backend)?;
        let mut namespaces = Vec::with_capacity(rows.len());
        for row in rows {
            let path: &str = row.try_get(0).map_err(StoreError::backend)?;
            namespaces.push(path.parse().map_err(|e| StoreError::corrupt(path, "", e))?);
        }
        Ok(query.apply(namespaces))
    }

    async fn sweep(&self) -> Result<usize, StoreError> {
        let swept = self.client().await?.execute(SWEEP, &[]).await.map_err(StoreError::backend)?;
        Ok(usize::try_from(swept).unwrap_or(usize::MAX))
    }
}
