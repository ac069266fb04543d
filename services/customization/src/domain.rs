//! Customization's domain: the modular components offerings are assembled from.
//! No SQL and no protobuf here.

/// One catalog component; `slot` is the wire number of the contract's `Slot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub component_id: String,
    pub slot: i32,
    pub name: String,
    pub description: String,
    pub cost_currency: String,
    pub cost_minor: i64,
    pub available: bool,
}
