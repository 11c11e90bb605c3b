//! Cross-device sign-in's use cases will live here: a sign-in started on one device (a QR code on the desktop) and
//! approved on another (the phone as companion authenticator), with the waiting request woken across nodes through
//! the store's notifier.
