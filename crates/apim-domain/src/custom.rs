//! Custom throttling rules. WSO2 writes them in Siddhi; we take a small rule language of our own in the policy's
//! `siddhiQuery` field and WSO2's `keyTemplate` as it is. Gateways count each request a rule applies to under the
//! key the template renders (prefixed with the policy's name), so a traffic manager adds them up like any other key.
//!
//! ```text
//! rule   := "limit" COUNT [unit] "per" [N] period ["when" cond ("and" cond)*]
//! unit   := "requests" | "KB" | "MB" | "GB"              (default: requests)
//! period := sec | second(s) | min | minute(s) | hour(s) | day(s)
//! cond   := VAR ("==" | "!=") STRING                     (STRING in '…' or "…")
//! VAR    := $userId | $apiContext | $apiVersion | $resourceKey | $appId | $appTenant | $apiTenant | $clientIp
//! ```
//!
//! `keyTemplate` is text with those variables, e.g. `$userId:$apiContext:$apiVersion`. Examples:
//! `limit 5 per 1 min when $userId == 'admin@carbon.super'`, `limit 10 MB per hour`.

/// A request attribute a rule can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Var {
    /// The end user with tenant, `admin@carbon.super`.
    UserId,
    /// The API's context with its version, `/pizzashack/1.0.0`.
    ApiContext,
    ApiVersion,
    /// WSO2's resource key, `/pizzashack/1.0.0/menu:GET`.
    ResourceKey,
    AppId,
    AppTenant,
    ApiTenant,
    ClientIp,
}

impl Var {
    fn parse(name: &str) -> Option<Var> {
        Some(match name {
            "userId" => Var::UserId,
            "apiContext" => Var::ApiContext,
            "apiVersion" => Var::ApiVersion,
            "resourceKey" => Var::ResourceKey,
            "appId" => Var::AppId,
            "appTenant" => Var::AppTenant,
            "apiTenant" => Var::ApiTenant,
            "clientIp" => Var::ClientIp,
            _ => return None,
        })
    }
}

const VARS: &str = "$userId, $apiContext, $apiVersion, $resourceKey, $appId, $appTenant, $apiTenant, $clientIp";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Var(Var),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub var: Var,
    pub equal: bool,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomRule {
    pub quota: u64,
    /// The quota counts bytes of request bodies, not requests.
    pub bytes: bool,
    pub window_ms: u64,
    pub conditions: Vec<Condition>,
    pub template: Vec<Part>,
}

/// What is wrong with a rule or its key template, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("keyTemplate: `${0}` is not a variable ({VARS})")]
    TemplateVariable(String),
    #[error("keyTemplate names no variable ({VARS})")]
    TemplateWithoutVariable,
    #[error("a value starting at {at} has no closing {quote}")]
    Unclosed { at: usize, quote: char },
    #[error("`{op}` at {at} must be `==` or `!=`")]
    Operator { op: char, at: usize },
    #[error("the rule ends where {0} should follow")]
    Ends(&'static str),
    #[error("a rule starts with `limit`, as in `limit 5 per 1 min`")]
    NoLimit,
    #[error("`{0}` is not a whole number of requests or bytes")]
    Count(String),
    #[error("expected `per` after the count, found `{0}`")]
    NoPer(String),
    #[error("`{0}` is not a time unit (sec, min, hour, day)")]
    TimeUnit(String),
    #[error("the time window is longer than ten years")]
    TooLong,
    #[error("expected `when` or the end of the rule, found `{0}`")]
    NoWhen(String),
    #[error("`{0}` is not a variable ({VARS})")]
    NotAVariable(String),
    #[error("`${0}` is not a variable ({VARS})")]
    UnknownVariable(String),
    #[error("expected `==` or `!=`, found `{0}`")]
    Comparison(String),
    #[error("`{0}` is not a quoted value ('…' or \"…\")")]
    Unquoted(String),
    #[error("expected `and` or the end of the rule, found `{0}`")]
    NoAnd(String),
}

impl RuleError {
    /// Whether the key template is at fault (else the rule).
    pub fn in_key_template(&self) -> bool {
        matches!(self, RuleError::TemplateVariable(_) | RuleError::TemplateWithoutVariable)
    }
}

impl CustomRule {
    /// Parses a rule and its key template; the error says what is wrong and where.
    pub fn parse(key_template: &str, rule: &str) -> Result<CustomRule, RuleError> {
        let template = parse_template(key_template)?;
        let tokens = tokenize(rule)?;
        let mut t = tokens.iter().map(String::as_str);
        let word = |t: &mut dyn Iterator<Item = &str>, what: &'static str| t.next().map(str::to_string).ok_or(RuleError::Ends(what));
        if !word(&mut t, "`limit`")?.eq_ignore_ascii_case("limit") {
            return Err(RuleError::NoLimit);
        }
        let count = word(&mut t, "a count")?;
        let quota: u64 = count.parse().map_err(|_| RuleError::Count(count.clone()))?;
        let mut next = word(&mut t, "`per`")?;
        let (mut bytes, mut scale) = (false, 1u64);
        match next.to_ascii_lowercase().as_str() {
            "requests" | "request" => next = word(&mut t, "`per`")?,
            "kb" => (bytes, scale, next) = (true, 1 << 10, word(&mut t, "`per`")?),
            "mb" => (bytes, scale, next) = (true, 1 << 20, word(&mut t, "`per`")?),
            "gb" => (bytes, scale, next) = (true, 1 << 30, word(&mut t, "`per`")?),
            _ => {}
        }
        if !next.eq_ignore_ascii_case("per") {
            return Err(RuleError::NoPer(next));
        }
        let mut period = word(&mut t, "a time unit")?;
        let mut n = 1u64;
        if let Ok(v) = period.parse::<u64>() {
            n = v.max(1);
            period = word(&mut t, "a time unit")?;
        }
        let unit_ms: u64 = match period.to_ascii_lowercase().as_str() {
            "sec" | "second" | "seconds" => 1_000,
            "min" | "minute" | "minutes" => 60_000,
            "hour" | "hours" => 3_600_000,
            "day" | "days" => 86_400_000,
            other => return Err(RuleError::TimeUnit(other.to_string())),
        };
        let window_ms = unit_ms.saturating_mul(n);
        if window_ms > 3653 * 86_400_000 {
            return Err(RuleError::TooLong);
        }
        let mut conditions = Vec::new();
        if let Some(w) = t.next() {
            if !w.eq_ignore_ascii_case("when") {
                return Err(RuleError::NoWhen(w.to_string()));
            }
            loop {
                let var = word(&mut t, "a variable")?;
                let name = var.strip_prefix('$').ok_or_else(|| RuleError::NotAVariable(var.clone()))?;
                let var = Var::parse(name).ok_or_else(|| RuleError::UnknownVariable(name.to_string()))?;
                let op = word(&mut t, "`==` or `!=`")?;
                let equal = match op.as_str() {
                    "==" => true,
                    "!=" => false,
                    other => return Err(RuleError::Comparison(other.to_string())),
                };
                let value = word(&mut t, "a quoted value")?;
                let value = unquote(&value).ok_or_else(|| RuleError::Unquoted(value.clone()))?;
                conditions.push(Condition { var, equal, value });
                match t.next() {
                    None => break,
                    Some(w) if w.eq_ignore_ascii_case("and") => {}
                    Some(w) => return Err(RuleError::NoAnd(w.to_string())),
                }
            }
        }
        Ok(CustomRule { quota: quota.saturating_mul(scale), bytes, window_ms, conditions, template })
    }

    /// Whether every condition holds for a request whose attributes `attr` gives.
    pub fn applies(&self, attr: &dyn Fn(Var) -> String) -> bool {
        self.conditions.iter().all(|c| (attr(c.var) == c.value) == c.equal)
    }

    /// The throttle key for a request: `custom:{policy}:{rendered template}`.
    pub fn key(&self, policy: &str, attr: &dyn Fn(Var) -> String) -> String {
        let mut k = format!("custom:{policy}:");
        for p in &self.template {
            match p {
                Part::Text(t) => k.push_str(t),
                Part::Var(v) => k.push_str(&attr(*v)),
            }
        }
        k
    }
}

fn parse_template(t: &str) -> Result<Vec<Part>, RuleError> {
    let mut parts = Vec::new();
    let mut rest = t;
    while let Some(i) = rest.find('$') {
        if i > 0 {
            parts.push(Part::Text(rest[..i].to_string()));
        }
        let after = &rest[i + 1..];
        let end = after.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(after.len());
        let name = &after[..end];
        let var = Var::parse(name).ok_or_else(|| RuleError::TemplateVariable(name.to_string()))?;
        parts.push(Part::Var(var));
        rest = &after[end..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    if !parts.iter().any(|p| matches!(p, Part::Var(_))) {
        return Err(RuleError::TemplateWithoutVariable);
    }
    Ok(parts)
}

/// Words, operators and quoted strings (kept with their quotes).
fn tokenize(s: &str) -> Result<Vec<String>, RuleError> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' || c == '"' {
            chars.next();
            let end = loop {
                match chars.next() {
                    Some((j, q)) if q == c => break j,
                    Some(_) => {}
                    None => return Err(RuleError::Unclosed { at: i, quote: c }),
                }
            };
            out.push(s[i..=end].to_string());
        } else if c == '=' || c == '!' {
            chars.next();
            match chars.next() {
                Some((_, '=')) => out.push(format!("{c}=")),
                _ => return Err(RuleError::Operator { op: c, at: i }),
            }
        } else {
            let start = i;
            let mut end = s.len();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_whitespace() || d == '\'' || d == '"' || d == '=' || d == '!' {
                    end = j;
                    break;
                }
                chars.next();
            }
            out.push(s[start..end].to_string());
        }
    }
    Ok(out)
}

fn unquote(s: &str) -> Option<String> {
    let q = s.chars().next()?;
    (s.len() >= 2 && (q == '\'' || q == '"') && s.ends_with(q)).then(|| s[1..s.len() - 1].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(v: Var) -> String {
        match v {
            Var::UserId => "admin@carbon.super".into(),
            Var::ApiContext => "/shop/1.0.0".into(),
            Var::ApiVersion => "1.0.0".into(),
            Var::ClientIp => "10.0.0.1".into(),
            _ => "x".into(),
        }
    }

    #[test]
    fn parses_rules_and_renders_keys() {
        let r = CustomRule::parse("$userId:$apiContext", "limit 5 per 1 min when $userId == 'admin@carbon.super'").expect("valid");
        assert_eq!((r.quota, r.bytes, r.window_ms), (5, false, 60_000));
        assert!(r.applies(&attrs));
        assert_eq!(r.key("PerUser", &attrs), "custom:PerUser:admin@carbon.super:/shop/1.0.0");
        let r = CustomRule::parse("$clientIp", "LIMIT 10 MB per hour when $apiVersion != \"2.0.0\" and $clientIp == '10.0.0.1'")
            .expect("valid");
        assert_eq!((r.quota, r.bytes, r.window_ms, r.conditions.len()), (10 << 20, true, 3_600_000, 2));
        assert!(r.applies(&attrs));
        let r = CustomRule::parse("$userId", "limit 1 requests per 2 days when $userId==\"bob\"").expect("valid");
        assert_eq!(r.window_ms, 2 * 86_400_000);
        assert!(!r.applies(&attrs));
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        let err = |t: &str, r: &str| CustomRule::parse(t, r).expect_err("invalid").to_string();
        assert!(err("$userId", "FROM RequestStream SELECT userId").contains("starts with `limit`"));
        assert!(err("$userId", "limit five per min").contains("`five`"));
        assert!(err("$userId", "limit 5 per fortnight").contains("fortnight"));
        assert!(err("$userId", "limit 5 per min when $nobody == 'x'").contains("$nobody"));
        assert!(err("$userId", "limit 5 per min when $userId = 'x'").contains("=="));
        assert!(err("$userId", "limit 5 per min when $userId == 'x").contains("closing"));
        assert!(err("$userId", "limit 5 per min when $userId == x").contains("quoted"));
        assert!(err("$userId", "limit 5 per min or so").contains("`when`"));
        assert!(err("$userId", "limit 5").contains("ends"));
        assert!(err("static", "limit 5 per min").contains("no variable"));
        assert!(err("$who", "limit 5 per min").contains("$who"));
        assert!(err("$userId", "limit 5 per 4000 days").contains("ten years"));
    }
}
