//! [`Timed`]: the pool as an `sqlx` executor that records each statement's time in
//! `tessera_store_operation_duration_seconds{backend="postgres", kind="query"}` when metrics are on
//! (`tessera_store::metrics`). Statements inside a transaction run on the transaction and are not timed one by one.

use futures_util::{FutureExt, StreamExt};
use sqlx::{Describe, Either, Error, Execute, Executor, PgPool, Postgres, SqlStr};
use std::time::Instant;

/// The pool, timing what runs on it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timed<'p>(pub(crate) &'p PgPool);

/// Records the time since `started` when dropped: a stream is timed until it is finished or dropped.
struct Observed(Option<Instant>);

impl Drop for Observed {
    fn drop(&mut self) {
        let ok: Result<(), tessera_store::StoreError> = Ok(());
        tessera_store::metrics::observe("postgres", "query", self.0.take(), &ok);
    }
}

type Row = <Postgres as sqlx::Database>::Row;
type Done = <Postgres as sqlx::Database>::QueryResult;

impl<'p> Executor<'p> for Timed<'p> {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures_core::stream::BoxStream<'e, Result<Either<Done, Row>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let observed = Observed(tessera_store::metrics::start());
        self.0
            .fetch_many(query)
            .map(move |item| {
                let _timing = &observed;
                item
            })
            .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures_core::future::BoxFuture<'e, Result<Option<Row>, Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let observed = Observed(tessera_store::metrics::start());
        self.0
            .fetch_optional(query)
            .map(move |result| {
                drop(observed);
                result
            })
            .boxed()
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [<Postgres as sqlx::Database>::TypeInfo],
    ) -> futures_core::future::BoxFuture<'e, Result<<Postgres as sqlx::Database>::Statement, Error>>
    where
        'p: 'e,
    {
        self.0.prepare_with(sql, parameters)
    }

    fn describe<'e>(
        self,
        sql: SqlStr,
    ) -> futures_core::future::BoxFuture<'e, Result<Describe<Postgres>, Error>>
    where
        'p: 'e,
    {
        self.0.describe(sql)
    }
}
