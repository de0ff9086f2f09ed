//! Where the service may fetch from: the URLs of OpenID Connect providers and of their keys.

/// Whether a provider URL may be used: HTTPS, or plain HTTP on a loopback address only.
pub fn acceptable_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                Err(format!(
                    "{url:?}: plain http is allowed on loopback addresses only"
                ))
            }
        }
        other => Err(format!("{url:?}: scheme {other} is not http or https")),
    }
}

#[cfg(test)]
mod tests {
    use super::acceptable_url;

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(acceptable_url("https://accounts.example.com").is_ok());
        assert!(acceptable_url("http://127.0.0.1:9000").is_ok());
        assert!(acceptable_url("http://[::1]:9000/realm").is_ok());
        assert!(acceptable_url("http://localhost:9000").is_ok());
        assert!(acceptable_url("http://accounts.example.com").is_err());
        assert!(acceptable_url("http://10.0.0.1").is_err());
        assert!(acceptable_url("ftp://127.0.0.1").is_err());
        assert!(acceptable_url("not a url").is_err());
    }
}
