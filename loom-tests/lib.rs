//! Empty: the models are the `loom` test target (../tests/loom.rs).
