//! Delivery signatures, the scheme Stripe and Mux use: the header
//! `StreamBox-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed
//! with the endpoint's secret as shown at registration. After a secret rotation a
//! second `v1=` signed with the previous secret follows for a day, so receivers can
//! switch without losing deliveries. Receivers check any `v1` and that `t` is recent.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const HEADER: &str = "StreamBox-Signature";

/// The signature header's value for `body` sent at `timestamp`, signed with each secret.
pub fn header_value(timestamp: i64, body: &[u8], secrets: &[&str]) -> String {
    let mut value = format!("t={timestamp}");
    for secret in secrets {
        value.push_str(",v1=");
        value.push_str(&sign(secret, timestamp, body));
    }
    value
}

/// Hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            sign("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn a_rotated_endpoint_gets_both_signatures() {
        let value = header_value(5, b"{}", &["new", "old"]);
        let parts: Vec<&str> = value.split(',').collect();
        assert_eq!(parts[0], "t=5");
        assert_eq!(parts[1], format!("v1={}", sign("new", 5, b"{}")));
        assert_eq!(parts[2], format!("v1={}", sign("old", 5, b"{}")));
    }
}
