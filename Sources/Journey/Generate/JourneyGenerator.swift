/// What to generate. Defaults mirror the golden data set (1% re-sent lines, a 90-day span from 2026-01-01).
public struct GeneratorOptions: Sendable {
    /// Number of customers (persons); each gets one journey.
    public var customers: Int
    public var seed: UInt64
    /// Fraction of all lines that are byte-identical re-sends of an earlier line (clamped to 0...0.5).
    public var duplicates: Double
    /// Fraction of all lines that are deliberately invalid (clamped so duplicates + broken <= 0.5).
    public var broken: Double
    /// First day of activity, UTC milliseconds (clamped to years 1970...9000 so times stay 4-digit RFC 3339).
    public var startMillis: Int64
    /// Customers' first visits fall in this many days; sessions that would start after it are not generated.
    public var days: Int

    public init(
        customers: Int, seed: UInt64, duplicates: Double = 0.01, broken: Double = 0,
        startMillis: Int64 = 1_767_225_600_000, days: Int = 90
    ) {
        self.customers = customers
        self.seed = seed
        self.duplicates = duplicates
        self.broken = broken
        self.startMillis = startMillis
        self.days = days
    }
}

/// Counts of what was emitted: `lines == messages + duplicates + broken`; `messages` are unique valid messages.
public struct GeneratorSummary: Sendable, Equatable {
    public var lines: Int
    public var messages: Int
    public var duplicates: Int
    public var broken: Int
}

/// Deterministic synthetic Segment-spec NDJSON: the same options give the same bytes on every machine.
///
/// Customers are generated one at a time, so memory is constant; arrival order is shuffled through a bounded
/// window of pending lines (about 700 customers' worth), re-sends come from a ring of recently emitted lines.
/// Every customer is one person after identity stitching (second devices are always linked by an `alias`).
public struct JourneyGenerator: Sendable {
    let options: GeneratorOptions

    public init(options: GeneratorOptions) { self.options = options }

    /// Calls `emit` with each NDJSON line's bytes (no trailing newline), in arrival order.
    /// The bytes are only valid during the call. Each call starts afresh, so repeated calls give the same lines.
    public mutating func generate(_ emit: (UnsafeRawBufferPointer) throws -> Void) rethrows -> GeneratorSummary {
        let base = UnsafeMutablePointer<UInt8>.allocate(capacity: Engine.arenaBytes)
        defer { base.deallocate() }
        var engine = Engine(options: options, base: base)
        try engine.run(emit)
        return engine.summary
    }
}

// MARK: - Byte output

extension JourneyGenerator {
    /// Appends ASCII at a raw pointer. Callers guarantee room: every line is far shorter than a slot.
    struct Cursor {
        var p: UnsafeMutablePointer<UInt8>

        @inline(__always)
        mutating func byte(_ b: UInt8) {
            p.pointee = b
            p += 1
        }

        @inline(__always)
        mutating func raw(_ s: StaticString) {
            let dst = p
            let n = s.withUTF8Buffer { src in
                UnsafeMutableRawBufferPointer(start: dst, count: src.count).copyMemory(from: UnsafeRawBufferPointer(src))
                return src.count
            }
            p += n
        }

        @inline(__always)
        mutating func uint(_ value: UInt64) {
            var digits = 1
            var probe = value
            while probe >= 10 {
                probe /= 10
                digits += 1
            }
            var v = value
            var q = p + digits
            repeat {
                q -= 1
                q.pointee = UInt8(truncatingIfNeeded: 48 &+ v % 10)
                v /= 10
            } while v != 0
            p += digits
        }

        @inline(__always)
        mutating func int(_ value: Int) { uint(UInt64(truncatingIfNeeded: max(0, value))) }

        @inline(__always)
        mutating func two(_ v: Int) {
            byte(UInt8(truncatingIfNeeded: 48 &+ v / 10))
            byte(UInt8(truncatingIfNeeded: 48 &+ v % 10))
        }

        mutating func hex8(_ v: UInt32) {
            var shift: UInt32 = 28
            for _ in 0..<8 {
                let nibble = UInt8(truncatingIfNeeded: (v >> shift) & 0xF)
                byte(nibble < 10 ? 48 &+ nibble : 87 &+ nibble)
                shift &-= 4
            }
        }

        /// Like Python's float repr for two-decimal amounts (`149.4`, `163.17`, `150.0`), as in the golden set.
        mutating func money(_ cents: Int) {
            int(cents / 100)
            byte(UInt8(ascii: "."))
            let fraction = cents % 100
            byte(UInt8(truncatingIfNeeded: 48 &+ fraction / 10))
            if fraction % 10 != 0 { byte(UInt8(truncatingIfNeeded: 48 &+ fraction % 10)) }
        }

        /// RFC 3339 UTC with milliseconds, `2026-03-24T03:37:19.986Z`, via Hinnant's civil-from-days
        /// (no Foundation dates: they are slow and we need the same bytes everywhere).
        mutating func time(_ millis: Int64) {
            let msPerDay: Int64 = 86_400_000
            var days = millis / msPerDay
            var rest = millis % msPerDay
            if rest < 0 {
                rest += msPerDay
                days -= 1
            }
            let z = days + 719_468
            let era = (z >= 0 ? z : z - 146_096) / 146_097
            let doe = z - era * 146_097
            let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
            let mp = (5 * doy + 2) / 153
            let day = Int(doy - (153 * mp + 2) / 5 + 1)
            let month = Int(mp < 10 ? mp + 3 : mp - 9)
            let year = Int(yoe + era * 400 + (month <= 2 ? 1 : 0))
            let ms = Int(rest)
            two(year / 100)
            two(year % 100)
            byte(UInt8(ascii: "-"))
            two(month)
            byte(UInt8(ascii: "-"))
            two(day)
            byte(UInt8(ascii: "T"))
            two(ms / 3_600_000)
            byte(UInt8(ascii: ":"))
            two(ms / 60000 % 60)
            byte(UInt8(ascii: ":"))
            two(ms / 1000 % 60)
            byte(UInt8(ascii: "."))
            let frac = ms % 1000
            byte(UInt8(truncatingIfNeeded: 48 &+ frac / 100))
            two(frac % 100)
            byte(UInt8(ascii: "Z"))
        }
    }
}

// MARK: - Vocabulary

extension JourneyGenerator {
    enum Channel: Int {
        case web, mobile, email, callCenter, store, social

        var name: StaticString {
            switch self {
            case .web: "web"
            case .mobile: "mobile"
            case .email: "email"
            case .callCenter: "call_center"
            case .store: "store"
            case .social: "social"
            }
        }

        /// Client-side channels: only these have device clocks (skewed times) and an IP/locale context.
        var isDevice: Bool { self == .web || self == .mobile || self == .social }
    }

    /// Mobile apps send `screen` calls, browsers send `page` calls.
    enum Device { case web, mobileWeb, mobileApp }

    enum Side { case first, second }

    enum Page: Int {
        case home, category, product, search, cart, help, account

        var name: StaticString {
            switch self {
            case .home: "Home"
            case .category: "Category"
            case .product: "Product"
            case .search: "Search"
            case .cart: "Cart"
            case .help: "Help"
            case .account: "Account"
            }
        }
    }

}

/// Word lists and weights; fixed, so that the same seed gives the same data in every version of this file.
extension JourneyGenerator.Engine {
    typealias Page = JourneyGenerator.Page

    static let landingPages: [Page] = [.home, .category, .product, .search]
    static let landingWeights = [50, 22, 18, 10]
    static let browsePages: [Page] = [.category, .search, .product, .help, .account]
    static let browseWeights = [40, 25, 20, 10, 5]
    static let categories: [StaticString] = ["shoes", "bags", "jackets", "watches", "beauty", "home", "sale"]

    static let countries: [StaticString] = ["US", "DE", "GB", "FR", "NL", "ES", "IT", "BR", "IN", "CN"]
    static let locales: [StaticString] = [
        "en-US", "de-DE", "en-GB", "fr-FR", "nl-NL", "es-ES", "it-IT", "pt-BR", "en-IN", "zh-CN",
    ]
    static let countryWeights = [30, 15, 12, 10, 6, 6, 5, 5, 6, 5]
    /// Currency per country index: USD, EUR, GBP.
    static let currencyOfCountry = [0, 1, 2, 1, 1, 1, 1, 0, 0, 0]
    static let currencies: [StaticString] = ["USD", "EUR", "GBP"]

    static let plans: [StaticString] = ["free", "pro", "team"]
    static let planWeights = [62, 26, 12]

    static let topics: [StaticString] = ["delivery", "refund", "payment", "product", "login"]
    static let topicWeightsAfterOrder = [35, 25, 15, 15, 10]
    static let topicWeightsBrowsing = [10, 5, 25, 30, 30]

    /// NPS 0...10: mostly promoters (56% / 24% passives / 20% detractors), and mostly detractors after a ticket.
    static let npsWeights = [2, 1, 2, 2, 3, 4, 6, 10, 14, 24, 32]
    static let npsWeightsAfterTicket = [8, 6, 8, 9, 10, 11, 12, 12, 9, 8, 7]

    static let notJSON: [StaticString] = [
        "not json at all", "<html><body><h1>502 Bad Gateway</h1></body></html>", "type=track&event=Product+Viewed",
    ]
}

// MARK: - Engine

extension JourneyGenerator {
    /// Per-customer state; reset for every customer.
    struct Person {
        var index: UInt64 = 0
        var firstAnon: UInt32 = 0
        var secondAnon: UInt32 = 0
        var firstDevice = Device.web
        var secondDevice = Device.mobileApp
        var country = 0
        var plan = 0
        var skew: Int64 = 0
        var ip: (Int, Int, Int, Int) = (0, 0, 0, 0)
        var identified = false
        var secondLinked = false
        var ordered = false
        var hadTicket = false
        var answeredNPS = false
    }

    struct Engine {
        /// Worst-case line is under 500 bytes (20-digit seed and ids, skewed times, group traits, context).
        static let slotBytes = 768
        /// One customer's messages are staged here before entering the shuffle window; a journey is < 150 lines.
        static let stagingSlots = 256
        /// Lines pending emission; emitting a random one of these is what makes arrival out of order.
        static let poolSlots = 4096
        /// Recently emitted lines that re-sends are copied from.
        static let ringSlots = 1024
        static let arenaBytes = (stagingSlots + poolSlots + ringSlots + 1) * slotBytes

        static let dayMillis: Int64 = 86_400_000
        static let hourMillis: Int64 = 3_600_000
        static let minuteMillis: Int64 = 60000

        let seed: UInt64
        let customers: Int
        let start: Int64
        let end: Int64
        let span: Int64
        let duplicateChance: Double
        let brokenChance: Double
        let priceSalt: UInt64
        let groups: Int

        /// Journeys draw from one stream and arrival (shuffle, re-sends, broken lines) from another, so the set
        /// of unique messages for a seed does not depend on the duplicate or broken fractions.
        var journey: SplitMix64
        var arrival: SplitMix64

        let base: UnsafeMutablePointer<UInt8>
        var stagedLength: [Int]
        var staged = 0
        var poolLength: [Int]
        var pooled = 0
        var ringLength: [Int]
        var ringNext = 0
        var ringFilled = 0

        var summary = GeneratorSummary(lines: 0, messages: 0, duplicates: 0, broken: 0)
        var messageNumber: UInt64 = 0
        var brokenNumber: UInt64 = 0
        var out: Cursor
        var lineStart: UnsafeMutablePointer<UInt8>
        var lineChannel = Channel.web
        var person = Person()

        init(options: GeneratorOptions, base: UnsafeMutablePointer<UInt8>) {
            seed = options.seed
            customers = max(0, options.customers)
            start = min(max(options.startMillis, 0), 221_845_392_000_000)  // 9000-01-01
            span = Int64(min(max(options.days, 1), 36500)) * Self.dayMillis
            end = start + span
            let dup = options.duplicates.isNaN ? 0 : min(max(options.duplicates, 0), 0.5)
            let bad = options.broken.isNaN ? 0 : min(max(options.broken, 0), 0.5 - dup)
            // Per valid message, so that the fractions hold of all lines: lines = m / (1 - dup - bad).
            duplicateChance = dup / (1 - dup - bad)
            brokenChance = bad / (1 - dup - bad)
            journey = SplitMix64(seed: SplitMix64.mix(seed ^ 0x4A6F_7572_6E65_7921))
            arrival = SplitMix64(seed: SplitMix64.mix(seed ^ 0x4172_7269_7661_6C21))
            priceSalt = SplitMix64.mix(seed &+ 0x5052_4943_45)
            groups = max(1, customers / 40)
            self.base = base
            stagedLength = Array(repeating: 0, count: Self.stagingSlots)
            poolLength = Array(repeating: 0, count: Self.poolSlots)
            ringLength = Array(repeating: 0, count: Self.ringSlots)
            out = Cursor(p: base)
            lineStart = base
        }

        @inline(__always) func stagingSlot(_ i: Int) -> UnsafeMutablePointer<UInt8> { base + i * Self.slotBytes }
        @inline(__always) func poolSlot(_ i: Int) -> UnsafeMutablePointer<UInt8> {
            base + (Self.stagingSlots + i) * Self.slotBytes
        }
        @inline(__always) func ringSlot(_ i: Int) -> UnsafeMutablePointer<UInt8> {
            base + (Self.stagingSlots + Self.poolSlots + i) * Self.slotBytes
        }
        var scratch: UnsafeMutablePointer<UInt8> {
            base + (Self.stagingSlots + Self.poolSlots + Self.ringSlots) * Self.slotBytes
        }

        mutating func run(_ emit: (UnsafeRawBufferPointer) throws -> Void) rethrows {
            for index in 0..<customers {
                staged = 0
                customer(index)
                try flushStaged(emit)
            }
            while pooled > 0 {
                let j = arrival.below(pooled)
                try emitPooled(j, emit)
                pooled -= 1
                if j != pooled {
                    poolSlot(j).update(from: poolSlot(pooled), count: poolLength[pooled])
                    poolLength[j] = poolLength[pooled]
                }
            }
        }

        // MARK: Arrival

        mutating func flushStaged(_ emit: (UnsafeRawBufferPointer) throws -> Void) rethrows {
            for i in 0..<staged {
                let slot: Int
                if pooled < Self.poolSlots {
                    slot = pooled
                    pooled += 1
                } else {
                    slot = arrival.below(Self.poolSlots)
                    try emitPooled(slot, emit)
                }
                poolSlot(slot).update(from: stagingSlot(i), count: stagedLength[i])
                poolLength[slot] = stagedLength[i]
            }
        }

        mutating func emitPooled(_ j: Int, _ emit: (UnsafeRawBufferPointer) throws -> Void) rethrows {
            let length = poolLength[j]
            try emit(UnsafeRawBufferPointer(start: poolSlot(j), count: length))
            summary.lines += 1
            if duplicateChance > 0 {
                ringSlot(ringNext).update(from: poolSlot(j), count: length)
                ringLength[ringNext] = length
                ringNext = ringNext + 1 == Self.ringSlots ? 0 : ringNext + 1
                ringFilled = min(ringFilled + 1, Self.ringSlots)
                var expected = duplicateChance
                while expected > 0 {
                    if expected >= 1 || arrival.chance(expected) {
                        let r = arrival.below(ringFilled)
                        try emit(UnsafeRawBufferPointer(start: ringSlot(r), count: ringLength[r]))
                        summary.lines += 1
                        summary.duplicates += 1
                    }
                    expected -= 1
                }
            }
            if brokenChance > 0 {
                var expected = brokenChance
                while expected > 0 {
                    if expected >= 1 || arrival.chance(expected) {
                        let length = writeBroken()
                        try emit(UnsafeRawBufferPointer(start: scratch, count: length))
                        summary.lines += 1
                        summary.broken += 1
                    }
                    expected -= 1
                }
            }
        }

        /// Writes one invalid line into the scratch slot; each kind breaks exactly one of the acceptance rules.
        mutating func writeBroken() -> Int {
            brokenNumber += 1
            var o = Cursor(p: scratch)
            let kind = arrival.pick([15, 20, 15, 15, 15, 10, 10])
            if kind == 0 {
                o.raw(Self.notJSON[arrival.below(Self.notJSON.count)])
                return o.p - scratch
            }
            let user = UInt64(arrival.below(max(customers, 1)))
            let at = arrival.between(start, end)
            o.raw(#"{"messageId":"x"#)
            o.uint(seed)
            o.byte(UInt8(ascii: "-"))
            o.uint(brokenNumber)
            if kind == 5 {  // messageId of 101 characters
                o.byte(UInt8(ascii: "-"))
                let idStart = scratch + 14
                while o.p - idStart < 101 { o.byte(UInt8(ascii: "z")) }
            }
            if kind == 2 {
                o.raw(#"","type":"teleport","userId":"u"#)
            } else if kind == 3 {
                o.raw(#"","type":"track""#)  // no userId or anonymousId
            } else {
                o.raw(#"","type":"track","userId":"u"#)
            }
            if kind != 3 {
                o.uint(user)
                o.byte(UInt8(ascii: "\""))
            }
            if kind == 4 {
                o.raw(#","timestamp":"yesterday""#)
            } else {
                o.raw(#","timestamp":""#)
                o.time(at)
                o.byte(UInt8(ascii: "\""))
            }
            if kind != 6 && kind != 2 {  // 6: a track without `event`
                o.raw(#","event":"Product Viewed""#)
            }
            o.raw(#","properties":{"product_id":"sku-"#)
            o.int(1 + arrival.below(500))
            o.raw(#""}}"#)
            let full = o.p - scratch
            if kind == 1 {  // truncated: any proper prefix of an object is not JSON
                return full / 4 + arrival.below(full - full / 4)
            }
            return full
        }

        // MARK: Lines

        /// Starts a message in the next staging slot: `{"messageId":…,"type":…,"channel":…,<time fields>,`.
        mutating func open(_ type: StaticString, _ channel: Channel, at t: Int64) {
            lineStart = stagingSlot(staged)
            out = Cursor(p: lineStart)
            lineChannel = channel
            messageNumber += 1
            out.raw(#"{"messageId":"g"#)
            out.uint(seed)
            out.byte(UInt8(ascii: "-"))
            out.uint(messageNumber)
            out.raw(#"","type":""#)
            out.raw(type)
            out.raw(#"","channel":""#)
            out.raw(channel.name)
            if channel.isDevice && journey.chance(0.03) {
                // Device clock: the engine must compute receivedAt - (sentAt - originalTimestamp) == t.
                let delay = journey.between(200, 8000)
                out.raw(#"","originalTimestamp":""#)
                out.time(t + person.skew)
                out.raw(#"","sentAt":""#)
                out.time(t + person.skew + delay)
                out.raw(#"","receivedAt":""#)
                out.time(t + delay)
            } else {
                out.raw(#"","timestamp":""#)
                out.time(t)
            }
            out.raw(#"","#)
        }

        mutating func close() {
            if lineChannel.isDevice && journey.chance(0.04) {
                out.raw(#","context":{"ip":""#)
                out.int(person.ip.0)
                out.byte(UInt8(ascii: "."))
                out.int(person.ip.1)
                out.byte(UInt8(ascii: "."))
                out.int(person.ip.2)
                out.byte(UInt8(ascii: "."))
                out.int(person.ip.3)
                out.raw(#"","locale":""#)
                out.raw(Self.locales[person.country])
                out.raw(#""}"#)
            }
            out.byte(UInt8(ascii: "}"))
            stagedLength[staged] = out.p - lineStart
            staged += 1
            summary.messages += 1
        }

        mutating func anonymousId(_ side: Side) {
            out.raw(#""anonymousId":"a"#)
            out.uint(person.index)
            out.byte(UInt8(ascii: "-"))
            out.hex8(side == .first ? person.firstAnon : person.secondAnon)
            out.raw(#"","#)
        }

        mutating func userId() {
            out.raw(#""userId":"u"#)
            out.uint(person.index)
            out.raw(#"","#)
        }

        /// The ids a device knows: its anonymous id, plus the user id once that device has logged in.
        mutating func ids(_ side: Side) {
            anonymousId(side)
            if side == .first ? person.identified : person.secondLinked { userId() }
        }

        func device(_ side: Side) -> Device { side == .first ? person.firstDevice : person.secondDevice }

        func channel(_ side: Side) -> Channel { device(side) == .web ? .web : .mobile }

        // MARK: Messages

        mutating func page(_ side: Side, _ page: Page, at t: Int64, social: Bool = false) {
            if device(side) == .mobileApp {
                open("screen", .mobile, at: t)
                ids(side)
                out.raw(#""name":""#)
                out.raw(page.name)
                out.byte(UInt8(ascii: "\""))
                close()
                return
            }
            open("page", social ? .social : channel(side), at: t)
            ids(side)
            out.raw(#""name":""#)
            out.raw(page.name)
            out.raw(#"","properties":{"path":""#)
            switch page {
            case .home: out.byte(UInt8(ascii: "/"))
            case .category:
                out.raw("/c/")
                out.raw(Self.categories[journey.below(Self.categories.count)])
            case .product:
                out.raw("/p/sku-")
                out.int(sku())
            case .search: out.raw("/search")
            case .cart: out.raw("/cart")
            case .help: out.raw("/help")
            case .account: out.raw("/account")
            }
            out.raw(#""}"#)
            close()
        }

        /// Popular products are viewed more: the minimum of two uniform draws skews towards low numbers.
        mutating func sku() -> Int { 1 + min(journey.below(500), journey.below(500)) }

        /// Each product has one price per seed, between 5.00 and 250.00.
        func priceCents(_ sku: Int) -> Int { 500 + Int(SplitMix64.mix(UInt64(sku) ^ priceSalt) % 24501) }

        mutating func product(_ side: Side, _ event: StaticString, sku: Int, at t: Int64) {
            open("track", channel(side), at: t)
            ids(side)
            out.raw(#""event":""#)
            out.raw(event)
            out.raw(#"","properties":{"product_id":"sku-"#)
            out.int(sku)
            out.raw(#"","price":"#)
            out.money(priceCents(sku))
            out.raw("}")
            close()
        }

        mutating func checkout(_ side: Side, cents: Int, at t: Int64) {
            open("track", channel(side), at: t)
            ids(side)
            out.raw(#""event":"Checkout Started","properties":{"value":"#)
            out.money(cents)
            out.raw("}")
            close()
        }

        /// `side == nil`: an order taken in a store, known only by user id.
        mutating func order(_ side: Side?, cents: Int, at t: Int64) {
            if let side {
                open("track", channel(side), at: t)
                ids(side)
            } else {
                open("track", .store, at: t)
                userId()
            }
            out.raw(#""event":"Order Completed","properties":{"order_id":"o"#)
            out.uint(messageNumber)
            out.raw(#"","revenue":"#)
            out.money(cents)
            out.raw(#","currency":""#)
            out.raw(Self.currencies[Self.currencyOfCountry[person.country]])
            out.raw(#""}"#)
            close()
            person.ordered = true
        }

        mutating func identify(at t: Int64) {
            person.identified = true
            open("identify", channel(.first), at: t)
            ids(.first)
            out.raw(#""traits":{"email":"u"#)
            out.uint(person.index)
            out.raw(#"@example.com","plan":""#)
            out.raw(Self.plans[person.plan])
            out.raw(#"","country":""#)
            out.raw(Self.countries[person.country])
            out.raw(#""}"#)
            close()
        }

        mutating func group(at t: Int64) {
            let g = journey.below(groups)
            open("group", channel(.first), at: t)
            ids(.first)
            out.raw(#""groupId":"grp-"#)
            out.int(g)
            out.raw(#"","traits":{"name":"Company "#)
            out.int(g)
            out.raw(#"","plan":"team","employees":"#)
            out.int(5 + Int(SplitMix64.mix(UInt64(g) ^ priceSalt) % 500))
            out.raw("}")
            close()
        }

        /// Links the second device's anonymous id to the user: `previousId` + `userId`, as Segment sends it.
        mutating func alias(at t: Int64) {
            person.secondLinked = true
            open("alias", channel(.second), at: t)
            userId()
            out.raw(#""previousId":"a"#)
            out.uint(person.index)
            out.byte(UInt8(ascii: "-"))
            out.hex8(person.secondAnon)
            out.byte(UInt8(ascii: "\""))
            close()
        }

        mutating func nps(at t: Int64) {
            person.answeredNPS = true
            let score = journey.pick(person.hadTicket ? Self.npsWeightsAfterTicket : Self.npsWeights)
            open("track", .email, at: t)
            userId()
            out.raw(#""event":"NPS Responded","properties":{"score":"#)
            out.int(score)
            out.raw("}")
            close()
        }

        /// Known customers call the call centre; anonymous ones use the web help form.
        mutating func ticket(at t: Int64) {
            person.hadTicket = true
            let topic = journey.pick(person.ordered ? Self.topicWeightsAfterOrder : Self.topicWeightsBrowsing)
            if person.identified {
                open("track", .callCenter, at: t)
                userId()
            } else {
                open("track", channel(.first), at: t)
                anonymousId(.first)
            }
            out.raw(#""event":"Support Ticket Opened","properties":{"topic":""#)
            out.raw(Self.topics[topic])
            out.raw(#""}"#)
            close()
        }

        // MARK: Journeys

        /// Seconds between clicks within a session.
        mutating func clickGap() -> Int64 {
            journey.chance(0.7) ? journey.between(2000, 40000) : journey.between(40000, 300_000)
        }

        /// Between funnel steps: mostly seconds, sometimes hours or days, so 1-hour and 7-day windows differ.
        mutating func stepGap() -> Int64 {
            let r = journey.below(100)
            if r < 85 { return journey.between(3000, 180_000) }
            if r < 92 { return journey.between(3 * Self.minuteMillis, 55 * Self.minuteMillis) }
            if r < 97 { return journey.between(Self.hourMillis, 20 * Self.hourMillis) }
            return journey.between(Self.dayMillis, 9 * Self.dayMillis)
        }

        mutating func sessionGap() -> Int64 {
            let r = journey.below(100)
            if r < 25 { return journey.between(Self.hourMillis, Self.dayMillis) }
            if r < 75 { return journey.between(Self.dayMillis, 7 * Self.dayMillis) }
            return journey.between(7 * Self.dayMillis, 30 * Self.dayMillis)
        }

        mutating func customer(_ index: Int) {
            var p = Person()
            p.index = UInt64(index)
            p.firstAnon = UInt32(truncatingIfNeeded: journey.next())
            p.secondAnon = UInt32(truncatingIfNeeded: journey.next())
            p.country = journey.pick(Self.countryWeights)
            p.plan = journey.pick(Self.planWeights)
            if journey.chance(0.55) {
                p.firstDevice = .web
                p.secondDevice = journey.chance(0.6) ? .mobileApp : .mobileWeb
            } else {
                p.firstDevice = journey.chance(0.45) ? .mobileApp : .mobileWeb
                p.secondDevice = .web
            }
            p.skew = journey.between(-300_000, 300_001)
            p.ip = (1 + journey.below(223), journey.below(256), journey.below(256), 1 + journey.below(254))
            person = p

            // Person-level funnel depth: 0 browse only, 1 viewed, 2 added, 3 checked out, 4 ordered.
            var depth = 0
            if journey.chance(0.87) {
                depth = 1
                if journey.chance(0.57) {
                    depth = 2
                    if journey.chance(0.67) {
                        depth = 3
                        if journey.chance(0.72) { depth = 4 }
                    }
                }
            }
            var sessions = 1
            while sessions < 8 && journey.chance(0.42) { sessions += 1 }
            let mainSession = journey.chance(0.5) ? 0 : journey.below(sessions)
            var identifySession = journey.chance(0.52) ? journey.below(sessions) : Int.max
            if depth >= 3 && identifySession != Int.max { identifySession = min(identifySession, mainSession) }
            // A second device shows up in the visit after the login (appended if that was the last visit).
            let hasSecondDevice = identifySession != Int.max && journey.chance(0.25)
            if hasSecondDevice && identifySession == sessions - 1 { sessions += 1 }
            let ticketSession = journey.chance(0.1) ? journey.below(sessions) : -1
            let aliasAtEnd = journey.chance(0.5)

            var t = journey.between(start, end)
            for s in 0..<sessions {
                if s > 0 {
                    t += sessionGap()
                    if t >= end { break }
                }
                let side: Side =
                    hasSecondDevice && (s == identifySession + 1 || s > identifySession && journey.chance(0.5))
                    ? .second : .first
                t = session(
                    side, at: t, main: s == mainSession, depth: depth, identifies: s == identifySession,
                    aliasAtEnd: aliasAtEnd, ticket: s == ticketSession)
            }
            if person.ordered && journey.chance(0.3) {
                let repeats = journey.chance(0.35) ? 2 : 1
                for _ in 0..<repeats {
                    t += journey.between(3 * Self.dayMillis, 40 * Self.dayMillis)
                    if t >= end { break }
                    if person.identified && journey.chance(0.15) {
                        let sku = sku()
                        order(nil, cents: priceCents(sku), at: t)
                    } else {
                        t = session(
                            .first, at: t, main: true, depth: 4, identifies: false, aliasAtEnd: false, ticket: false,
                            quick: true)
                    }
                }
            }
        }

        /// One visit; returns the time of its last click. At most about 20 lines, far below the staging room.
        mutating func session(
            _ side: Side, at begin: Int64, main: Bool, depth: Int, identifies: Bool, aliasAtEnd: Bool, ticket: Bool,
            quick: Bool = false
        ) -> Int64 {
            var t = begin
            let social = device(side) != .mobileApp && journey.chance(0.04)
            page(side, Self.landingPages[journey.pick(Self.landingWeights)], at: t, social: social)
            if journey.chance(0.15) {
                t += clickGap()
                page(side, Self.browsePages[journey.pick(Self.browseWeights)], at: t)
            }
            if identifies {
                t += clickGap()
                identify(at: t)
                if person.plan == 2 && journey.chance(0.9) {
                    t += journey.between(500, 5000)
                    group(at: t)
                }
            }
            if side == .second && !person.secondLinked && !aliasAtEnd {
                t += clickGap()
                alias(at: t)
            }
            if main && depth >= 1 {
                t = funnel(side, at: t, depth: depth, quick: quick)
            } else if depth >= 1 && journey.chance(0.5) {
                var last = sku()
                t += clickGap()
                product(side, "Product Viewed", sku: last, at: t)
                if journey.chance(0.25) {
                    last = sku()
                    t += clickGap()
                    product(side, "Product Viewed", sku: last, at: t)
                }
                if depth >= 2 && journey.chance(0.12) {
                    t += clickGap()
                    product(side, "Product Added", sku: last, at: t)
                }
            }
            if side == .second && !person.secondLinked {
                t += clickGap()
                alias(at: t)
            }
            if ticket {
                ticketAndMaybeNPS(at: t + journey.between(10 * Self.minuteMillis, 2 * Self.dayMillis))
            } else if person.identified && !person.answeredNPS && !person.ordered && journey.chance(0.04) {
                nps(at: t + journey.between(Self.dayMillis, 4 * Self.dayMillis))
            }
            return t
        }

        mutating func ticketAndMaybeNPS(at t: Int64) {
            ticket(at: t)
            if person.identified && !person.answeredNPS && journey.chance(0.15) {
                nps(at: t + journey.between(Self.dayMillis, 3 * Self.dayMillis))
            }
        }

        /// The customer's deepest attempt: view → add → checkout → order, stopping at `depth`.
        mutating func funnel(_ side: Side, at begin: Int64, depth: Int, quick: Bool) -> Int64 {
            var t = begin
            var last = sku()
            t += clickGap()
            product(side, "Product Viewed", sku: last, at: t)
            if journey.chance(0.25) {
                last = sku()
                t += clickGap()
                product(side, "Product Viewed", sku: last, at: t)
            }
            guard depth >= 2 else { return t }
            t = step(side, after: t, quick: quick)
            product(side, "Product Added", sku: last, at: t)
            var cents = priceCents(last)
            if journey.chance(0.2) {
                let other = sku()
                t += clickGap()
                product(side, "Product Added", sku: other, at: t)
                cents += priceCents(other)
            }
            guard depth >= 3 else { return t }
            t = step(side, after: t, quick: quick)
            checkout(side, cents: cents, at: t)
            guard depth >= 4 else { return t }
            t = step(side, after: t, quick: quick)
            let firstOrder = !person.ordered
            order(side, cents: cents, at: t)
            if firstOrder && person.identified && !person.answeredNPS && journey.chance(0.5) {
                nps(at: t + journey.between(2 * Self.hourMillis, 5 * Self.dayMillis))
            }
            return t
        }

        /// Advances to the next funnel step; a long pause means the customer comes back in a new visit.
        mutating func step(_ side: Side, after t: Int64, quick: Bool) -> Int64 {
            let gap = quick ? journey.between(3000, 120_000) : stepGap()
            var next = t + gap
            if gap >= 30 * Self.minuteMillis {
                page(side, journey.chance(0.6) ? .cart : .home, at: next)
                next += clickGap()
            }
            return next
        }
    }
}
