//! Hosts a registry may not send the scanner to. A registry names its token service (the Bearer
//! challenge's realm) and redirects downloads to storage; ECR hands out presigned URLs. Were one
//! of them a link-local or cloud metadata address, the scanner would fetch the machine's
//! instance credentials on behalf of whoever runs the registry. The check sits in the name
//! resolver of the download agent, so every connection is checked, each redirect hop included,
//! and a name is checked by what it resolves to, on the addresses actually connected to. The
//! registry the user named is trusted: reaching it is their choice.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// Names cloud platforms serve instance metadata under (GCP, AWS, Tencent Cloud): refused before
/// any lookup. Their addresses are refused too; the names are a belt to that.
const METADATA_NAMES: [&str; 6] = [
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.tencentyun.com",
];

/// Why `ip` may not be connected to, or None.
fn forbidden(ip: IpAddr) -> Option<&'static str> {
    const AWS_IPV6_METADATA: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
    const ALIBABA_METADATA: Ipv4Addr = Ipv4Addr::new(100, 100, 100, 200);
    match ip {
        IpAddr::V4(v4) if v4 == Ipv4Addr::new(169, 254, 169, 254) => Some("the cloud instance metadata address"),
        IpAddr::V4(v4) if v4 == ALIBABA_METADATA => Some("Alibaba Cloud's instance metadata address"),
        IpAddr::V4(v4) if v4.is_link_local() => {
            Some("a link-local address (169.254.0.0/16), where cloud platforms serve instance metadata")
        }
        IpAddr::V6(v6) if v6 == AWS_IPV6_METADATA => Some("AWS's IPv6 instance metadata address"),
        IpAddr::V6(v6) if v6.is_unicast_link_local() => Some("a link-local address (fe80::/10)"),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().and_then(|v4| forbidden(IpAddr::V4(v4))),
        IpAddr::V4(_) => None,
    }
}

/// Why `host`, which resolved to `addresses` (none yet: only the name is checked), may not be
/// connected to, or None.
pub fn refusal(host: &str, addresses: &[IpAddr]) -> Option<String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    let why = if METADATA_NAMES.contains(&name.as_str()) {
        "a cloud instance metadata service name".to_string()
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        forbidden(ip)?.to_string()
    } else {
        let (ip, why) = addresses.iter().find_map(|&ip| forbidden(ip).map(|why| (ip, why)))?;
        format!("it resolves to {ip}, {why}")
    };
    Some(format!(
        "refusing to connect to {host}: {why}. A registry's token realm, redirects and download URLs may not lead there (its services hand out the machine's credentials)"
    ))
}

/// The agent's resolver: ureq's, refusing what `refusal` refuses except on the trusted host.
#[derive(Debug)]
pub struct GuardedResolver {
    trusted_host: Option<String>,
}

impl GuardedResolver {
    /// `trusted_host`: `host[:port]` of the registry the user named (its port is not compared).
    pub fn new(trusted_host: Option<&str>) -> GuardedResolver {
        let trusted_host = trusted_host
            .and_then(|host| format!("http://{host}/").parse::<Uri>().ok())
            .and_then(|uri| uri.host().map(str::to_ascii_lowercase));
        GuardedResolver { trusted_host }
    }
}

/// A refused connection, carried to the caller in `ureq::Error::Other`.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or_default();
        if self.trusted_host.as_deref() == Some(host.to_ascii_lowercase().as_str()) {
            return DefaultResolver::default().resolve(uri, config, timeout);
        }
        // Names and literal addresses are refused before any lookup.
        if let Some(refused) = refusal(host, &[]) {
            return Err(ureq::Error::Other(Box::new(Refused(refused))));
        }
        let addresses = DefaultResolver::default().resolve(uri, config, timeout)?;
        let ips: Vec<IpAddr> = addresses.iter().map(|address| address.ip()).collect();
        match refusal(host, &ips) {
            Some(refused) => Err(ureq::Error::Other(Box::new(Refused(refused)))),
            None => Ok(addresses),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_link_local_hosts_are_refused() {
        for host in ["169.254.169.254", "169.254.170.2", "[fe80::1]", "[fd00:ec2::254]", "[::ffff:169.254.169.254]"] {
            assert!(refusal(host, &[]).is_some(), "{host}");
        }
        let refused = refusal("Metadata.Google.Internal.", &[]).unwrap();
        assert!(refused.contains("metadata service name"), "{refused}");
        // A name is judged by what it resolves to.
        let resolved = ["10.1.2.3".parse().unwrap(), "169.254.169.254".parse().unwrap()];
        let refused = refusal("token.example.com", &resolved).unwrap();
        assert!(refused.contains("token.example.com: it resolves to 169.254.169.254"), "{refused}");
        // Elsewhere is fine, private networks and loopback included (registries live there).
        for host in ["127.0.0.1", "10.0.0.5", "[::1]", "auth.docker.io", "169.255.0.1"] {
            assert_eq!(refusal(host, &["10.0.0.5".parse().unwrap()]), None, "{host}");
        }
    }

    #[test]
    fn the_trusted_host_is_compared_without_its_port() {
        assert_eq!(GuardedResolver::new(Some("169.254.1.1:5000")).trusted_host.as_deref(), Some("169.254.1.1"));
        assert_eq!(GuardedResolver::new(Some("[fe80::1]:5000")).trusted_host.as_deref(), Some("[fe80::1]"));
        assert_eq!(GuardedResolver::new(None).trusted_host, None);
    }
}
