//! Storage: database pools for SQLite, PostgreSQL and MariaDB/MySQL, migrations, repository traits
