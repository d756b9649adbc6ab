public enum JourneyVersion { public static let string = "0.1.0" }
