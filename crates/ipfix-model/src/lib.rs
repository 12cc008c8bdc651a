//! IPFIX information model and wire codec shared by `flowmeter` and `mediator`.
#![forbid(unsafe_code)]
