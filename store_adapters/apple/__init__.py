"""The App Store adapter: signed data, notifications, the App Store Server API and receipts.

- `gateway`: `build_apple_gateway` / `AppleGateway`, what the engine calls;
- `notifications`: webhook bodies as the engine's `NotificationReader`;
- `verify` (+ `jws`, `chain`, `splice`): `SignedDataVerifier`, trust in every App Store JWS;
- `normalize` (+ `kinds`): verified Apple data -> `StoreRecord`s, the only module that maps
  Apple's fields to the domain;
- `client` (+ `auth`, `retry`, `codes`): `AppStoreServerClient`, the App Store Server API;
- `receipt` (+ `ber`) and `verify_receipt`: legacy app receipts;
- `inspect`: `iap-engine inspect apple`;
- `errors`: the exception tree, drawn in its docstring.
"""
