//! The parts of an offering a component fills, in the order they are decided.

/// A slot; the discriminants are the wire numbers of `idic.v1.Slot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    ProductOption = 1,
    Packaging = 2,
    InvoiceFormat = 3,
    Delivery = 4,
    ServiceLevel = 5,
    Communication = 6,
}

impl Slot {
    pub const ALL: [Slot; 6] = [
        Slot::ProductOption,
        Slot::Packaging,
        Slot::InvoiceFormat,
        Slot::Delivery,
        Slot::ServiceLevel,
        Slot::Communication,
    ];

    /// The slot of a wire number; `None` for 0 and unknown numbers.
    pub fn from_wire(number: i32) -> Option<Slot> {
        Slot::ALL.into_iter().find(|slot| *slot as i32 == number)
    }

    pub fn wire(self) -> i32 {
        self as i32
    }

    /// Lower-case name used in reasons and storage keys.
    pub fn label(self) -> &'static str {
        match self {
            Slot::ProductOption => "product option",
            Slot::Packaging => "packaging",
            Slot::InvoiceFormat => "invoice format",
            Slot::Delivery => "delivery",
            Slot::ServiceLevel => "service level",
            Slot::Communication => "communication",
        }
    }
}
