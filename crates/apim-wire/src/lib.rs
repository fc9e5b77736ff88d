//! Wire contracts between nodes and towards tools: health and readiness documents
