//! Traffic manager role: cluster-wide throttling decisions
