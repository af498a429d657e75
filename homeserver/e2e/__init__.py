"""End-to-end encryption plumbing: the keys devices publish, cross-signing, to-device
messages, device-list changes and key backup. The server stores and relays what
clients need; it never sees a plaintext message or key."""
