pub mod order;
pub mod private;
