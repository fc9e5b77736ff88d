//! WSO2's ELK analytics log: `apim_metrics.log`, one line per request in the shape WSO2's log4j appender writes
//! (`HH:mm:ss,SSS [-] [thread]  INFO ELKCounterMetric apimMetrics: apim:response, properties :{…}`, or
//! `apim:faulty` for a request the gateway refused or could not deliver), so an existing Filebeat/Logstash
//! pipeline and its Kibana dashboards keep working. The file rolls over by size, as WSO2's appender does.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::RequestEvent;

/// The open log and its size so far.
pub struct LogFile {
    settings: apim_config::ElkLog,
    file: Option<File>,
    size: u64,
}

impl LogFile {
    pub fn new(settings: apim_config::ElkLog) -> LogFile {
        LogFile { settings, file: None, size: 0 }
    }

    /// Appends `lines`, rolling over first when they would take the file past its size.
    pub fn write(&mut self, lines: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() {
            if let Some(dir) = self.settings.file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let file = OpenOptions::new().create(true).append(true).open(&self.settings.file)?;
            self.size = file.metadata().map(|m| m.len()).unwrap_or(0);
            self.file = Some(file);
        }
        if self.size > 0 && self.size + lines.len() as u64 > self.settings.max_bytes && self.size_is_real() {
            self.roll()?;
            return self.write(lines);
        }
        let Some(file) = self.file.as_mut() else { return Ok(()) };
        file.write_all(lines)?;
        self.size += lines.len() as u64;
        Ok(())
    }

    /// A character device (`/dev/null`, `/dev/full`) is written to, never renamed.
    fn size_is_real(&self) -> bool {
        std::fs::metadata(&self.settings.file).map(|m| m.is_file()).unwrap_or(false)
    }

    /// `apim_metrics.log` → `.1`, `.1` → `.2`, … keeping `max_files` old ones.
    fn roll(&mut self) -> std::io::Result<()> {
        self.file = None;
        let numbered = |n: u32| -> PathBuf {
            let mut p = self.settings.file.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        let _ = std::fs::remove_file(numbered(self.settings.max_files));
        for n in (1..self.settings.max_files).rev() {
            let _ = std::fs::rename(numbered(n), numbered(n + 1));
        }
        std::fs::rename(&self.settings.file, numbered(1))?;
        self.size = 0;
        Ok(())
    }
}

/// Logs a failing exporter once a minute, not once per batch.
#[derive(Default)]
pub struct Warned {
    elk: Option<Instant>,
    otlp: Option<Instant>,
}

impl Warned {
    pub fn warn(&mut self, e: &std::io::Error) {
        if self.elk.is_none_or(|t| t.elapsed().as_secs() >= 60) {
            self.elk = Some(Instant::now());
            tracing::warn!("cannot write the analytics log; its events are dropped and counted: {e}");
        }
    }

    pub fn warn_otlp(&mut self, e: &str) {
        if self.otlp.is_none_or(|t| t.elapsed().as_secs() >= 60) {
            self.otlp = Some(Instant::now());
            tracing::warn!("the OpenTelemetry collector did not take the gateway's spans; they are dropped and counted: {e}");
        }
    }
}

/// WSO2's response event (`apim:response`), its attributes under WSO2's names.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Response<'a> {
    api_name: &'a str,
    proxy_response_code: u16,
    destination: &'a str,
    api_creator_tenant_domain: &'static str,
    platform: &'a str,
    api_method: &'a str,
    api_version: &'a str,
    gateway_type: &'static str,
    api_creator: &'a str,
    response_cache_hit: bool,
    backend_latency: u64,
    correlation_id: &'a str,
    request_mediation_latency: u64,
    key_type: &'static str,
    api_id: &'a str,
    application_name: &'a str,
    target_response_code: u16,
    request_timestamp: String,
    application_owner: &'a str,
    user_agent: &'a str,
    user_name: &'a str,
    api_resource_template: &'a str,
    region_id: &'static str,
    response_latency: u64,
    response_mediation_latency: u64,
    user_ip: &'a str,
    api_context: &'a str,
    application_id: &'a str,
    api_type: &'a str,
    properties: Properties,
}

/// WSO2's fault event (`apim:faulty`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Faulty<'a> {
    api_name: &'a str,
    api_id: &'a str,
    api_type: &'a str,
    api_version: &'a str,
    api_creator: &'a str,
    api_method: &'a str,
    api_creator_tenant_domain: &'static str,
    error_type: &'static str,
    error_code: u32,
    error_message: &'static str,
    application_name: &'a str,
    application_id: &'a str,
    application_owner: &'a str,
    key_type: &'static str,
    correlation_id: &'a str,
    region_id: &'static str,
    gateway_type: &'static str,
    proxy_response_code: u16,
    target_response_code: u16,
    request_timestamp: String,
    user_agent: &'a str,
    user_ip: &'a str,
    properties: Properties,
}

#[derive(Serialize)]
struct Properties {}

/// Appends the event's line, newline-terminated.
pub(super) fn line(e: &RequestEvent<'_>, out: &mut Vec<u8>) {
    let secs = (e.started_unix_us / 1_000_000) as i64;
    let ms = (e.started_unix_us / 1000) % 1000;
    let day = secs.rem_euclid(86_400);
    let _ = write!(
        out,
        "{:02}:{:02}:{:02},{ms:03} [-] [apim-gateway]  INFO ELKCounterMetric apimMetrics: ",
        day / 3600,
        day % 3600 / 60,
        day % 60
    );
    let api = e.api;
    let (app_id, app_name, app_owner) = e.application.map_or(("", "", ""), |a| (a.id, a.name, a.owner));
    let user_agent = e.user_agent.unwrap_or("");
    // ISO 8601 in UTC with milliseconds, as WSO2 writes `requestTimestamp`.
    let mut timestamp = apim_domain::api::rfc3339(secs);
    timestamp.insert_str(timestamp.len() - 1, &format!(".{ms:03}"));
    let mut correlation = [0u8; 36];
    let correlation_id = correlation_id(e, &mut correlation);
    let mut ip = [0u8; 45];
    let user_ip = super::ip_text(e.client_ip, &mut ip);
    let key_type = e.key_type.as_str();
    let written = match e.fault {
        None => {
            let _ = write!(out, "apim:response, properties :");
            serde_json::to_writer(
                &mut *out,
                &Response {
                    api_name: &api.name,
                    proxy_response_code: e.status,
                    destination: e.destination.unwrap_or(""),
                    api_creator_tenant_domain: "carbon.super",
                    platform: platform(user_agent),
                    api_method: e.method,
                    api_version: &api.version,
                    gateway_type: "SYNAPSE",
                    api_creator: &api.provider,
                    response_cache_hit: false,
                    backend_latency: e.backend_us.map_or(0, |us| us / 1000),
                    correlation_id,
                    request_mediation_latency: e.upstream_from_us.map_or(0, |us| us / 1000),
                    key_type,
                    api_id: &api.id,
                    application_name: app_name,
                    target_response_code: e.target_status.unwrap_or(0),
                    request_timestamp: timestamp,
                    application_owner: app_owner,
                    user_agent,
                    user_name: e.user.unwrap_or(""),
                    api_resource_template: e.resource.unwrap_or(""),
                    region_id: "default",
                    response_latency: e.latency_us / 1000,
                    response_mediation_latency: response_mediation_ms(e),
                    user_ip,
                    api_context: &api.context_version,
                    application_id: app_id,
                    api_type: &api.api_type,
                    properties: Properties {},
                },
            )
        }
        Some(f) => {
            let _ = write!(out, "apim:faulty, properties :");
            serde_json::to_writer(
                &mut *out,
                &Faulty {
                    api_name: &api.name,
                    api_id: &api.id,
                    api_type: &api.api_type,
                    api_version: &api.version,
                    api_creator: &api.provider,
                    api_method: e.method,
                    api_creator_tenant_domain: "carbon.super",
                    error_type: f.error_type,
                    error_code: f.code,
                    error_message: f.detail,
                    application_name: app_name,
                    application_id: app_id,
                    application_owner: app_owner,
                    key_type,
                    correlation_id,
                    region_id: "default",
                    gateway_type: "SYNAPSE",
                    proxy_response_code: e.status,
                    target_response_code: e.target_status.unwrap_or(0),
                    request_timestamp: timestamp,
                    user_agent,
                    user_ip,
                    properties: Properties {},
                },
            )
        }
    };
    // Serializing borrowed strings and numbers into a Vec cannot fail; a line is never left half written.
    debug_assert!(written.is_ok());
    out.push(b'\n');
}

/// The time after the backend's answer head: what is left once arrival-to-call and the backend are counted.
fn response_mediation_ms(e: &RequestEvent<'_>) -> u64 {
    match (e.upstream_from_us, e.backend_us) {
        (Some(from), Some(backend)) => e.latency_us.saturating_sub(from + backend) / 1000,
        _ => 0,
    }
}

/// The request's trace id when it has one (the same id its spans carry), else a random one, written as a UUID
/// as WSO2 writes its correlation ids.
fn correlation_id<'b>(e: &RequestEvent<'_>, buf: &'b mut [u8; 36]) -> &'b str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let id = e.trace.as_ref().map_or_else(crate::trace::random_id, |t| t.ids.trace);
    let mut n = 0;
    for (i, b) in id.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            buf[n] = b'-';
            n += 1;
        }
        buf[n] = DIGITS[usize::from(b >> 4)];
        buf[n + 1] = DIGITS[usize::from(b & 15)];
        n += 2;
    }
    std::str::from_utf8(&buf[..]).unwrap_or("")
}

/// WSO2's `platform`, from the user agent.
fn platform(user_agent: &str) -> &'static str {
    let ua = user_agent.as_bytes();
    let has = |needle: &str| ua.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()));
    [("android", "Android"), ("iphone", "iOS"), ("ipad", "iOS"), ("windows", "Windows"), ("mac os", "Mac OS X"), ("linux", "Linux")]
        .iter()
        .find(|(needle, _)| has(needle))
        .map_or("Other", |(_, name)| name)
}
