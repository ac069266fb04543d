//! US place data: cities with their state, ZIP code prefixes and telephone area
//! codes, street names and types, and unit designators. Area codes are real and
//! belong to the city, so the generated phone numbers pass libphonenumber's US plan.

/// A city (or suburb) that addresses are placed in.
pub(crate) struct City {
    pub name: &'static str,
    /// Other ways sources write the locality ("NYC", "Saint Louis").
    pub aliases: &'static [&'static str],
    /// USPS state code.
    pub state: &'static str,
    /// First three digits of the city's ZIP codes.
    pub zip_prefixes: &'static [u16],
    /// Area codes serving the city.
    pub area_codes: &'static [u16],
    /// Relative population, for sampling.
    pub weight: u32,
}

const fn city(
    name: &'static str,
    aliases: &'static [&'static str],
    state: &'static str,
    zip_prefixes: &'static [u16],
    area_codes: &'static [u16],
    weight: u32,
) -> City {
    City {
        name,
        aliases,
        state,
        zip_prefixes,
        area_codes,
        weight,
    }
}

#[rustfmt::skip]
pub(crate) const CITIES: &[City] = &[
    city("New York", &["NYC", "New York City", "Manhattan"], "NY", &[100, 101, 102], &[212, 646, 917, 332], 160),
    city("Brooklyn", &["Bklyn"], "NY", &[112], &[718, 347, 929], 110),
    city("Queens", &["Flushing"], "NY", &[113, 114], &[718, 347], 90),
    city("Buffalo", &[], "NY", &[142], &[716], 12),
    city("Yonkers", &[], "NY", &[107], &[914], 9),
    city("Los Angeles", &["LA"], "CA", &[900, 901], &[213, 310, 323, 424, 818], 150),
    city("San Francisco", &["SF", "San Fran"], "CA", &[941], &[415, 628], 40),
    city("Oakland", &[], "CA", &[946], &[510, 341], 20),
    city("San Diego", &[], "CA", &[919, 921], &[619, 858], 55),
    city("San Jose", &[], "CA", &[951], &[408, 669], 40),
    city("Sacramento", &[], "CA", &[942, 958], &[916, 279], 22),
    city("Santa Barbara", &[], "CA", &[931], &[805], 5),
    city("Fresno", &[], "CA", &[937], &[559], 22),
    city("Long Beach", &[], "CA", &[908], &[562], 20),
    city("Chicago", &["Chgo"], "IL", &[606, 607], &[312, 773, 872], 110),
    city("Evanston", &[], "IL", &[602], &[847, 224], 4),
    city("Houston", &["Houston TX"], "TX", &[770, 772], &[713, 281, 832, 346], 95),
    city("Dallas", &[], "TX", &[752, 753], &[214, 469, 972], 55),
    city("Austin", &[], "TX", &[733, 787], &[512, 737], 40),
    city("San Antonio", &["San Antonio TX"], "TX", &[782], &[210, 726], 60),
    city("Fort Worth", &["Ft Worth", "Ft. Worth"], "TX", &[761], &[817, 682], 38),
    city("El Paso", &[], "TX", &[799], &[915], 28),
    city("Phoenix", &[], "AZ", &[850], &[602, 480, 623], 70),
    city("Tucson", &[], "AZ", &[857], &[520], 22),
    city("Philadelphia", &["Phila", "Philly"], "PA", &[191], &[215, 267, 445], 65),
    city("Pittsburgh", &[], "PA", &[152], &[412, 878], 12),
    city("Jacksonville", &[], "FL", &[322], &[904], 40),
    city("Miami", &[], "FL", &[331, 332], &[305, 786], 20),
    city("Tampa", &[], "FL", &[336], &[813, 656], 17),
    city("Orlando", &[], "FL", &[328], &[407, 321, 689], 14),
    city("Atlanta", &["ATL"], "GA", &[303, 311], &[404, 470, 678, 770], 25),
    city("Seattle", &[], "WA", &[981], &[206, 564], 38),
    city("Spokane", &[], "WA", &[992], &[509], 11),
    city("Portland", &["PDX"], "OR", &[972], &[503, 971], 33),
    city("Denver", &[], "CO", &[802], &[303, 720], 36),
    city("Boston", &[], "MA", &[21, 22], &[617, 857], 34),
    city("Cambridge", &[], "MA", &[21], &[617, 857], 6),
    city("Worcester", &[], "MA", &[16], &[508, 774], 9),
    city("Newark", &[], "NJ", &[71], &[973, 862], 15),
    city("Jersey City", &[], "NJ", &[73], &[201, 551], 13),
    city("Baltimore", &[], "MD", &[212], &[410, 443, 667], 30),
    city("Washington", &["Washington DC", "Wash DC"], "DC", &[200], &[202, 771], 35),
    city("Detroit", &[], "MI", &[482], &[313], 33),
    city("Grand Rapids", &[], "MI", &[495], &[616], 10),
    city("Minneapolis", &["Mpls"], "MN", &[554], &[612], 22),
    city("Saint Paul", &["St. Paul", "St Paul"], "MN", &[551], &[651], 15),
    city("Saint Louis", &["St. Louis", "St Louis"], "MO", &[631], &[314, 557], 15),
    city("Kansas City", &["KC"], "MO", &[641], &[816], 25),
    city("Nashville", &[], "TN", &[372], &[615, 629], 34),
    city("Memphis", &[], "TN", &[381], &[901], 32),
    city("Charlotte", &[], "NC", &[282], &[704, 980], 44),
    city("Raleigh", &[], "NC", &[276], &[919, 984], 24),
    city("Columbus", &[], "OH", &[432], &[614, 380], 45),
    city("Cleveland", &[], "OH", &[441], &[216], 19),
    city("Cincinnati", &[], "OH", &[452], &[513], 15),
    city("Indianapolis", &["Indy"], "IN", &[462], &[317, 463], 44),
    city("Milwaukee", &[], "WI", &[532], &[414], 29),
    city("Madison", &[], "WI", &[537], &[608], 13),
    city("Las Vegas", &[], "NV", &[891], &[702, 725], 32),
    city("Reno", &[], "NV", &[895], &[775], 13),
    city("Salt Lake City", &["SLC", "Salt Lake"], "UT", &[841], &[801, 385], 10),
    city("Albuquerque", &[], "NM", &[871], &[505], 28),
    city("New Orleans", &["NOLA"], "LA", &[701], &[504], 19),
    city("Louisville", &[], "KY", &[402], &[502], 31),
    city("Oklahoma City", &["OKC"], "OK", &[731], &[405, 572], 34),
    city("Omaha", &[], "NE", &[681], &[402, 531], 24),
    city("Honolulu", &[], "HI", &[968], &[808], 17),
    city("Anchorage", &[], "AK", &[995], &[907], 15),
    city("Boise", &[], "ID", &[837], &[208, 986], 12),
    city("Des Moines", &[], "IA", &[503], &[515], 11),
    city("Richmond", &[], "VA", &[232], &[804], 12),
    city("Virginia Beach", &["Va Beach"], "VA", &[234], &[757, 948], 24),
    city("Providence", &[], "RI", &[29], &[401], 10),
    city("Hartford", &[], "CT", &[61], &[860, 959], 6),
    city("Burlington", &[], "VT", &[54], &[802], 2),
    city("Portland", &[], "ME", &[41], &[207], 3),
    city("Birmingham", &[], "AL", &[352], &[205, 659], 11),
    city("Little Rock", &[], "AR", &[722], &[501], 11),
    city("Charleston", &[], "SC", &[294], &[843, 854], 8),
    city("Sioux Falls", &[], "SD", &[571], &[605], 10),
    city("Fargo", &[], "ND", &[581], &[701], 7),
    city("Billings", &[], "MT", &[591], &[406], 6),
    city("Cheyenne", &[], "WY", &[820], &[307], 3),
    city("Wilmington", &[], "DE", &[198], &[302], 4),
    city("Charleston", &[], "WV", &[253], &[304, 681], 3),
    city("Jackson", &[], "MS", &[392], &[601, 769], 8),
    city("Wichita", &[], "KS", &[672], &[316], 20),
];

/// USPS state code and full name, for the sources that spell the state out.
#[rustfmt::skip]
pub(crate) const STATE_NAMES: &[(&str, &str)] = &[
    ("AK", "Alaska"), ("AL", "Alabama"), ("AR", "Arkansas"), ("AZ", "Arizona"),
    ("CA", "California"), ("CO", "Colorado"), ("CT", "Connecticut"), ("DC", "District of Columbia"),
    ("DE", "Delaware"), ("FL", "Florida"), ("GA", "Georgia"), ("HI", "Hawaii"), ("IA", "Iowa"),
    ("ID", "Idaho"), ("IL", "Illinois"), ("IN", "Indiana"), ("KS", "Kansas"), ("KY", "Kentucky"),
    ("LA", "Louisiana"), ("MA", "Massachusetts"), ("MD", "Maryland"), ("ME", "Maine"),
    ("MI", "Michigan"), ("MN", "Minnesota"), ("MO", "Missouri"), ("MS", "Mississippi"),
    ("MT", "Montana"), ("NC", "North Carolina"), ("ND", "North Dakota"), ("NE", "Nebraska"),
    ("NJ", "New Jersey"), ("NM", "New Mexico"), ("NV", "Nevada"), ("NY", "New York"),
    ("OH", "Ohio"), ("OK", "Oklahoma"), ("OR", "Oregon"), ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"), ("SC", "South Carolina"), ("SD", "South Dakota"), ("TN", "Tennessee"),
    ("TX", "Texas"), ("UT", "Utah"), ("VA", "Virginia"), ("VT", "Vermont"), ("WA", "Washington"),
    ("WI", "Wisconsin"), ("WV", "West Virginia"), ("WY", "Wyoming"),
];

/// Street names, most common first (Main, Oak and numbered streets exist in every town).
#[rustfmt::skip]
pub(crate) const STREET_NAMES: &[&str] = &[
    "Main", "Oak", "Park", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "2nd",
    "3rd", "1st", "4th", "5th", "Walnut", "Church", "Lincoln", "Jefferson", "Sunset", "Highland",
    "Franklin", "Madison", "Willow", "Jackson", "Center", "River", "Spring", "Mill", "Railroad",
    "Chestnut", "Meadow", "Forest", "Adams", "Ridge", "Broad", "6th", "7th", "8th", "Prospect",
    "Lakeview", "Valley", "Hickory", "Dogwood", "Birch", "Cherry", "Magnolia", "Sycamore", "Poplar",
    "Laurel", "Spruce", "Aspen", "Juniper", "Hawthorne", "Cypress", "Redwood", "Orchard",
    "Meadowbrook", "Brookside", "Fairview", "Pleasant", "Grove", "Union", "Market", "Water",
    "Front", "High", "King", "Queen", "Court", "College", "School", "Academy", "Mulberry", "Locust",
    "Sherwood", "Windsor", "Cambridge", "Oxford", "Hampton", "Kingston", "Ashland", "Belmont",
    "Clinton", "Monroe", "Hamilton", "Grant", "Sheridan", "Roosevelt", "Kennedy",
    "Martin Luther King Jr", "Cesar Chavez", "Harbor", "Bay", "Ocean", "Beach", "Shore", "Cliff",
    "Canyon", "Mesa", "Vista", "Mountain View", "Summit", "Sunrise", "Heritage", "Liberty",
    "Independence", "Colonial", "Pioneer", "Frontier", "Country Club", "Golf", "Stone", "Quarry",
    "Iron", "Copper", "Silver", "Golden", "Bluebird", "Cardinal", "Robin", "Sparrow", "Eagle",
    "Hawk", "Fox", "Deer", "Elk", "Bear Creek", "Cedar Creek", "Mill Creek", "Indian Trail",
    "Old Mill", "Old Post", "Stagecoach", "Wagon Wheel", "Canal", "Bridge", "Ferry", "Depot",
    "Station", "Airport", "Industrial", "Commerce", "Enterprise", "Technology", "Corporate",
];

/// Street types: the USPS abbreviation and the full word.
pub(crate) const STREET_TYPES: &[(&str, &str, u32)] = &[
    ("St", "Street", 300),
    ("Ave", "Avenue", 200),
    ("Rd", "Road", 120),
    ("Dr", "Drive", 120),
    ("Ln", "Lane", 60),
    ("Blvd", "Boulevard", 40),
    ("Ct", "Court", 40),
    ("Pl", "Place", 30),
    ("Way", "Way", 30),
    ("Ter", "Terrace", 15),
    ("Cir", "Circle", 20),
    ("Pkwy", "Parkway", 15),
    ("Hwy", "Highway", 10),
    ("Trl", "Trail", 10),
];

/// Street directionals: abbreviation and full word.
pub(crate) const DIRECTIONS: &[(&str, &str)] =
    &[("N", "North"), ("S", "South"), ("E", "East"), ("W", "West")];
