//! Given-name nicknames and their canonical names ("bill" -> "william"), so that
//! "Bill Smith" and "William Smith" compare as the same given name.

use rustc_hash::FxHashMap;
use std::sync::LazyLock;

/// One group per line: the canonical name, then its nicknames and variant spellings,
/// all folded. A nickname that several names share ("al", "sam", "chris") belongs to
/// the name it most often stands for, since the table can give one answer only.
const NICKNAME_GROUPS: &str = "
abigail: abby abbie abbey
abraham: abe bram
adelaide: addie
agnes: aggie nessie
alan: allan allen
albert: al bert bertie
alexander: alex alec alek xander lex sasha
alexandra: lexi lexie
alfred: alf alfie
alice: allie
alison: ally allison
alphonso: alfonso alphonse fonzie
amanda: mandy manda
andrew: andy drew
angela: angie
anne: ann annie nan nannie
anthony: tony ant antony
archibald: archie
arnold: arnie
arthur: art artie
augustus: gus
barbara: barb barbie babs
bartholomew: bart
beatrice: bea trixie
benjamin: ben benny bennie benji
bernard: bernie barney
bradley: brad
bridget: biddy bridie bridgette brigid
calvin: cal
cameron: cam
caroline: carrie caro callie
cassandra: cassie cass
catherine: cathy kathy kate katie katy kat cat kitty katherine kathryn katharine kay
cecilia: cissy cissie
charles: charlie chuck chas chaz chip chuckie
charlotte: lottie lotte
christina: tina chrissy chrissie christine kristina kristine
christopher: chris kit topher kris kristopher cristopher
clayton: clay
clement: clem
clifford: cliff
conrad: con
constance: connie
curtis: curt
cynthia: cindy cyndi
cyrus: cy
daniel: dan danny dannie
danielle: dani
david: dave davey davy
deborah: debbie deb debby debra
dennis: denny
desmond: des dez
dominic: dom
donald: don donnie donny
dorothy: dot dottie dolly dora
douglas: doug dougie
edith: edie
edward: ed eddie eddy ted teddy ned
eleanor: ellie elly nell nellie elle nora
elizabeth: liz lizzie lizzy beth betty bette betsy bess bessie eliza elsie libby lisbeth elisabeth liesel liesl
emily: em emmie
emmanuel: manu emanuel
ernest: ernie earnest
eugene: gene
ezekiel: zeke
fitzgerald: fitz
florence: flo flossie
frances: fran fanny franny frannie
francis: frank frankie franky
frederick: fred freddie freddy frederic
gabriel: gabe
gabrielle: gabby gabi
gerald: gerry jerry
gertrude: gertie trudy
gilbert: gil
gordon: gordie gordy
gregory: greg
gwendolyn: gwen
harriet: hattie hatty
henry: hank harry hal
herbert: herb herbie
howard: howie
humphrey: humph
irving: irv
isaac: ike
isabella: bella belle izzy izzie isabel isabelle isobel
jacob: jake
jacqueline: jackie jacqui jacky
james: jim jimmy jimmie jamie jimbo
jedediah: jed
jeffrey: jeff jeffery
jennifer: jen jenny jenn jennie
jessica: jess jessie jessy
john: jack johnny johnnie jock
jonathan: jon jonny jonty
joseph: joe joey jos
josephine: jo josie
joshua: josh
judith: judy judi
kenneth: ken kenny
kimberly: kim kimmy kimberley
lancelot: lance
lawrence: larry laurence
leonard: len lenny lennie
lillian: lil
louis: lou louie lewis
mackenzie: kenzie
madeline: maddie maddy madeleine madelyn
malcolm: mal
margaret: peggy peg meg maggie maggy marge margie madge maisie greta gretchen gretel grete margarete margarethe
martin: marty
marvin: marv
mary: molly polly mamie mae
matilda: tilly tillie tilda
matthew: matt matty mat
maurice: mo moe
maximilian: max
melissa: missy lissa
melvin: mel
michael: mike mikey mick mickey micky
mildred: millie milly
mitchell: mitch
montgomery: monty
mortimer: mort morty
natasha: tasha
nathaniel: nate nat
nicholas: nick nicky nico
nicole: nikki nicki
norman: norm
oliver: ollie olly
olivia: liv livvy livy
oswald: oz ozzie ozzy
pamela: pam
patricia: patty patsy trish tricia trisha patti
patrick: pat paddy
penelope: penny
percival: percy
peter: pete
philip: phil pip phillip
priscilla: cilla prissy
prudence: prue pru
randall: randy rand
raymond: ray
rebecca: becky becca
reginald: reg reggie
reuben: rube
richard: rick ricky dick dickie rich richie
robert: bob bobby rob robbie robby rab
roberta: bobbie
rodney: rod roddy
ronald: ron ronnie ronny
rose: rosie
russell: russ rusty
samantha: sammie sami
samuel: sam sammy
sandra: sandy
sarah: sally sadie sara
sebastian: seb bastian
sidney: sid syd sydney
solomon: sol
sophia: sophie sophy
stanley: stan
stephanie: steph stephie stefanie
stephen: steve stevie steven
stuart: stu stewart
susan: sue susie suzy suzie
sylvester: sly
tabitha: tabby
terence: terry terrance terrence
thaddeus: thad
theodore: theo
theresa: tess tessa tessie terri teresa
thomas: tom tommy tommie thom
timothy: tim timmy
tobias: toby
valerie: val
vernon: vern
veronica: roni
victor: vic
victoria: vicky vicki vickie tori tory
vincent: vince vinnie vinny
virginia: ginny ginnie jinny
walter: walt wally
william: bill billy billie will willy willie liam
winifred: winnie
woodrow: woody
zachary: zach zack zak zac
zebulon: zeb
johannes: hans hannes johann
friedrich: fritz
heinrich: heinz heini
ludwig: lutz
wilhelm: willi
josef: sepp seppl
jose: pepe pepito chepe
francisco: paco pancho curro
manuel: manolo manny
dolores: lola lolita
concepcion: concha conchita
ignacio: nacho
jesus: chucho chuy
guadalupe: lupe lupita
guillermo: memo guille
enrique: quique kike
eduardo: lalo
rafael: rafa raphael
rosario: charo
pilar: pili
jean: jeannot
giuseppe: beppe peppe peppino
giovanni: gianni vanni
alessandro: sandro
";

/// Nicknames that stand for more than one name, with every root they may stand for
/// (roots as [`NICKNAME_GROUPS`] spells them). The table above gives each nickname
/// the name it most often stands for; this one lets "Pat" agree with Patricia as well
/// as with Patrick, and "Sam" with Samantha.
const SHARED_NICKNAMES: &str = "
al: albert alfred alan alexander
alex: alexander alexandra
andy: andrew andrea
bert: albert robert herbert
charlie: charles charlotte
chris: christopher christina christian
dani: daniel danielle
danny: daniel danielle
eddie: edward edwin edmund
ellie: eleanor elizabeth ellen
fran: frances francis
frannie: frances francis
freddie: frederick alfred
freddy: frederick alfred
gabby: gabriel gabrielle
jackie: jacqueline john
jess: jessica jesse
jessie: jessica jesse
jo: josephine joanne joseph
johnny: john jonathan
joey: joseph josephine
kate: catherine kathleen
kathy: catherine kathleen
katie: catherine kathleen
lexi: alexandra alexis
lexie: alexandra alexis
lou: louis louise
mel: melissa melvin melanie
nat: nathaniel natalie
nicky: nicholas nicole
ollie: oliver olivia
pat: patrick patricia
sam: samuel samantha
sammie: samuel samantha
sammy: samuel samantha
stevie: stephen stephanie
ted: edward theodore
teddy: edward theodore
terry: terence theresa
toni: anthony antonia
tony: anthony antonia
val: valerie valentine valentina
vale: valentina valentine
vic: victor victoria
izzy: isabella isidore
";

// FxHash: looked up for nearly every pair compared; SipHash showed in the profile.
static SHARED: LazyLock<FxHashMap<&'static str, Vec<&'static str>>> = LazyLock::new(|| {
    SHARED_NICKNAMES
        .lines()
        .filter_map(|line| {
            let (nickname, roots) = line.split_once(':')?;
            Some((nickname.trim(), roots.split_whitespace().collect()))
        })
        .collect()
});

/// Whether two folded given names may be the same name: their roots are equal, or one
/// is a nickname that stands for several names, one of which is the other's root.
pub fn names_may_agree(a_folded: &str, a_root: &str, b_folded: &str, b_root: &str) -> bool {
    if a_root == b_root {
        return true;
    }
    match (SHARED.get(a_folded), SHARED.get(b_folded)) {
        (None, None) => false,
        (Some(a), None) => a.contains(&b_root),
        (None, Some(b)) => b.contains(&a_root),
        (Some(a), Some(b)) => a.iter().any(|root| b.contains(root)),
    }
}

static NICKNAMES: LazyLock<FxHashMap<&'static str, &'static str>> = LazyLock::new(|| {
    let mut nicknames = FxHashMap::default();
    for (root, variants) in nickname_groups() {
        for variant in variants {
            nicknames.insert(variant, root);
        }
    }
    nicknames
});

fn nickname_groups() -> impl Iterator<Item = (&'static str, std::str::SplitWhitespace<'static>)> {
    NICKNAME_GROUPS.lines().filter_map(|line| {
        let (root, variants) = line.split_once(':')?;
        Some((root.trim(), variants.split_whitespace()))
    })
}

/// The nicknames that may stand for a root: its group's, and the shared nicknames
/// that list it ("isabella" -> bella, belle, izzy, ...).
static SPELLINGS: LazyLock<FxHashMap<&'static str, Vec<&'static str>>> = LazyLock::new(|| {
    let mut spellings: FxHashMap<&'static str, Vec<&'static str>> = FxHashMap::default();
    for (root, variants) in nickname_groups() {
        spellings.entry(root).or_default().extend(variants);
    }
    for (nickname, roots) in SHARED.iter() {
        for root in roots {
            spellings.entry(root).or_default().push(nickname);
        }
    }
    spellings
});

/// Whether a folded given name is one the tables know: a root or a nickname.
fn is_known_name(folded: &str) -> bool {
    NICKNAMES.contains_key(folded) || SPELLINGS.contains_key(folded) || SHARED.contains_key(folded)
}

/// Whether `a` is a typo (one edit) of some spelling that may stand for `b`:
/// "jenmifer"/"jenny", "gim"/"timothy", "iabella"/"izzy", "michaedl"/"mikey". A name the
/// tables know is taken as written, not as a typo: "Pam" is not "Sam" mistyped.
/// Checked both ways round.
pub fn names_agree_but_for_a_typo(
    a_folded: &str,
    a_root: &str,
    b_folded: &str,
    b_root: &str,
) -> bool {
    let one_way = |typed: &str, other_folded: &str, other_root: &str| {
        typed.len() >= 3
            && !is_known_name(typed)
            && spellings_of(other_folded, other_root)
                .any(|spelling| within_one_edit(typed, spelling))
    };
    one_way(a_folded, b_folded, b_root) || one_way(b_folded, a_folded, a_root)
}

/// The spellings that may stand for the name `folded` (whose root is `root`): its
/// root and the root's nicknames, and for a shared nickname those of every root it
/// may stand for.
fn spellings_of<'a>(folded: &'a str, root: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let roots = SHARED
        .get(folded)
        .map_or(&[][..], |roots| roots.as_slice())
        .iter()
        .copied()
        .chain(std::iter::once(root));
    roots.flat_map(|root| {
        std::iter::once(root).chain(
            SPELLINGS
                .get(root)
                .map_or(&[][..], |nicknames| nicknames.as_slice())
                .iter()
                .copied(),
        )
    })
}

/// Whether `a` and `b` are at most one edit apart: one byte inserted, deleted or
/// replaced, or two adjacent bytes swapped. Without allocating: it runs in the
/// comparison loop.
fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    if short.len() == long.len() {
        let (rest_a, rest_b) = (&a[prefix..], &b[prefix..]);
        // Equal, one byte replaced, or two adjacent bytes swapped.
        rest_a.len() <= 1
            || rest_a[1..] == rest_b[1..]
            || (rest_a[0] == rest_b[1] && rest_a[1] == rest_b[0] && rest_a[2..] == rest_b[2..])
    } else {
        // One byte inserted into the shorter at `prefix`.
        short[prefix..] == long[prefix + 1..]
    }
}

/// The canonical given name for a folded nickname ("bill" -> "william", "peggy" ->
/// "margaret"), or the input itself when it is not a known nickname.
pub fn nickname_root(folded_given: &str) -> &str {
    NICKNAMES.get(folded_given).copied().unwrap_or(folded_given)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn a_shared_nickname_agrees_with_each_name_it_stands_for() {
        let agree = |a: &str, b: &str| names_may_agree(a, nickname_root(a), b, nickname_root(b));
        assert!(agree("pat", "patrick"));
        assert!(agree("pat", "patricia"));
        assert!(agree("patricia", "pat"));
        assert!(agree("sammy", "samantha"));
        assert!(agree("sam", "sammy"));
        assert!(agree("chris", "kristina"));
        assert!(agree("frannie", "frances"));
        assert!(!agree("patricia", "patrick"));
        assert!(!agree("samantha", "samuel"));
        assert!(!agree("pat", "peter"));
    }

    #[test]
    fn the_shared_table_names_known_roots_once() {
        for (nickname, roots) in SHARED.iter() {
            assert!(roots.len() >= 2, "{nickname} stands for one name only");
            for root in roots {
                assert_eq!(nickname_root(root), *root, "{root} is not a root");
            }
        }
    }

    #[test]
    fn a_mistyped_name_agrees_with_the_nicknames_of_what_it_mistypes() {
        let near =
            |a: &str, b: &str| names_agree_but_for_a_typo(a, nickname_root(a), b, nickname_root(b));
        assert!(near("jenmifer", "jenny"));
        assert!(near("jenny", "jenmifer"));
        assert!(near("gim", "timothy"));
        assert!(near("iabella", "izzy"));
        assert!(near("ixzy", "isabella"));
        assert!(near("michaedl", "mikey"));
        assert!(near("riich", "richard"));
        assert!(near("lexj", "alexis"));
        // Known names are taken as written.
        assert!(!near("pam", "samantha"));
        assert!(!near("dawn", "donna"));
        // More than one edit, or too short to tell.
        assert!(!near("jnemifer", "jenny"));
        assert!(!near("ab", "abby"));
        assert!(!near("zork", "timothy"));
    }

    #[test]
    fn one_edit_is_an_insertion_a_deletion_a_replacement_or_a_swap() {
        for (a, b) in [
            ("tim", "tim"),
            ("tim", "gim"),
            ("tim", "timm"),
            ("timm", "tim"),
            ("tim", "itm"),
            ("tim", "tmi"),
            ("", "a"),
            ("michael", "michaedl"),
        ] {
            assert!(within_one_edit(a, b), "{a} {b}");
        }
        for (a, b) in [
            ("tim", "tom1"),
            ("tim", "mit"),
            ("abcd", "badc"),
            ("", "ab"),
        ] {
            assert!(!within_one_edit(a, b), "{a} {b}");
        }
    }

    #[test]
    fn maps_nicknames_to_their_root() {
        for (nickname, root) in [
            ("bill", "william"),
            ("billy", "william"),
            ("will", "william"),
            ("willy", "william"),
            ("bob", "robert"),
            ("bobby", "robert"),
            ("rob", "robert"),
            ("liz", "elizabeth"),
            ("beth", "elizabeth"),
            ("betty", "elizabeth"),
            ("eliza", "elizabeth"),
            ("peggy", "margaret"),
            ("jim", "james"),
            ("jimmy", "james"),
            ("hans", "johannes"),
            ("pepe", "jose"),
            ("paco", "francisco"),
        ] {
            assert_eq!(nickname_root(nickname), root, "{nickname}");
        }
    }

    #[test]
    fn other_names_map_to_themselves() {
        assert_eq!(nickname_root("william"), "william");
        assert_eq!(nickname_root("zoe"), "zoe");
        assert_eq!(nickname_root(""), "");
    }

    #[test]
    fn the_table_is_large_consistent_and_folded() {
        let groups: Vec<_> = nickname_groups()
            .map(|(root, variants)| (root, variants.collect::<Vec<_>>()))
            .collect();
        assert!(groups.len() >= 150, "only {} groups", groups.len());
        let mut seen = HashSet::new();
        for (root, variants) in &groups {
            assert!(!variants.is_empty(), "{root} has no nicknames");
            // Every root maps to itself, so no root may also be another root's nickname.
            assert_eq!(
                nickname_root(root),
                *root,
                "{root} is also listed as a nickname"
            );
            for name in std::iter::once(root).chain(variants) {
                assert!(
                    name.bytes().all(|byte| byte.is_ascii_lowercase()),
                    "{name} is not folded"
                );
            }
            for variant in variants {
                assert!(seen.insert(*variant), "{variant} belongs to two groups");
            }
        }
    }
}
