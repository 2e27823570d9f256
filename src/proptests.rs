//! Property tests of the block routine over odd sizes and adversarial values.
