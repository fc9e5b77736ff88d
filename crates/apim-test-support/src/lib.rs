//! Test utilities: temporary directories, databases, an HTTP(S) client, the apim binary under test
