//! A service's storage alone, for store contract tests on both engines.

use idic_runtime::ServiceName;
use idic_runtime::config::{Config, SecretUrl};
use idic_runtime::storage::{Database, Migrations};

use crate::servers::{TestPostgres, require_postgres};
use crate::suite::Backend;

/// A migrated database for one service; [`TestDatabase::remove`] cleans it up.
pub struct TestDatabase {
    pub database: Database,
    postgres: Option<TestPostgres>,
    _data_dir: tempfile::TempDir,
}

impl TestDatabase {
    /// `service`'s storage on `backend`, migrated; `None` when PostgreSQL is missing
    /// outside CI.
    pub async fn open(
        backend: Backend,
        service: ServiceName,
        migrations: &Migrations,
    ) -> Option<TestDatabase> {
        let data_dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config {
            data_dir: data_dir.path().to_path_buf(),
            ..Config::default()
        };
        let postgres = match backend {
            Backend::Embedded => None,
            Backend::Postgres => {
                let postgres = require_postgres().await?;
                config.database_url = Some(SecretUrl::new(postgres.url.clone()));
                Some(postgres)
            }
        };
        let database = idic_runtime::storage::connect(&config, service, migrations)
            .await
            .expect("storage connects and migrates");
        Some(TestDatabase {
            database,
            postgres,
            _data_dir: data_dir,
        })
    }

    /// Closes the pool and drops a PostgreSQL database.
    pub async fn remove(self) -> anyhow::Result<()> {
        self.database.pool.close().await;
        if let Some(postgres) = self.postgres {
            postgres.drop_database().await?;
        }
        Ok(())
    }
}
