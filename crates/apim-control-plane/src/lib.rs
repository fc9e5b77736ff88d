//! Control plane role: Publisher, DevPortal and Admin APIs, event hub, internal data service
