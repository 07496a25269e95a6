// A running `nmt serve` on an ephemeral loopback port, and an HTTP client for it: the server is
// started as a user starts it and stopped (SIGTERM) when the test ends.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

final class ServerProcess: @unchecked Sendable {
    let process = Process()
    private(set) var port = 0
    /// Enough connections for every concurrent request a test makes; no request waits forever.
    private let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 64
        configuration.timeoutIntervalForRequest = 60
        configuration.timeoutIntervalForResource = 120
        return URLSession(configuration: configuration)
    }()
    private let errors = ErrorText()

    /// Starts `nmt serve ARGUMENTS --port 0` and waits until it says where it listens.
    init(_ arguments: [String]) throws {
        process.executableURL = try nmtExecutable()
        process.arguments = ["serve"] + arguments + ["--port", "0"]
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let errors = self.errors
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            errors.append(String(decoding: data, as: UTF8.self))
        }
        try process.run()
        let deadline = Date(timeIntervalSinceNow: 60)
        while Date() < deadline {
            let text = stderr
            if let range = text.range(of: #"serving on http://127\.0\.0\.1:([0-9]+)"#, options: .regularExpression) {
                port = Int(text[range].split(separator: ":").last!)!
                return
            }
            if !process.isRunning { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        if process.isRunning { process.terminate() }
        throw CLIError("nmt serve did not start: \(stderr)")
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }

    var stderr: String { errors.text }

    /// SIGTERM, then the exit status (after at most 60 s).
    func stop() -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date(timeIntervalSinceNow: 60)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); return -1 }
        return process.terminationStatus
    }

    struct Reply {
        var status: Int
        var body: Data
        var headers: [String: String]
        var json: Any? { try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) }
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        var error: String? { object["error"] as? String }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func request(_ method: String, _ path: String, body: Data? = nil, contentType: String? = nil) async throws -> Reply {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        request.timeoutInterval = 60
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        var headers: [String: String] = [:]
        for (key, value) in http.allHeaderFields { headers[String(describing: key).lowercased()] = String(describing: value) }
        return Reply(status: http.statusCode, body: data, headers: headers)
    }

    /// POST of a JSON value.
    func post(_ path: String, json: Any) async throws -> Reply {
        try await request("POST", path, body: try JSONSerialization.data(withJSONObject: json), contentType: "application/json")
    }

    func get(_ path: String) async throws -> Reply { try await request("GET", path) }
}

/// The server's stderr so far.
private final class ErrorText: @unchecked Sendable {
    private let lock = NSLock()
    private var value = ""
    var text: String { lock.withLock { value } }
    func append(_ more: String) { lock.withLock { value += more } }
}

extension ServerProcess {
    /// Sends `bytes` on a new connection, then reads until the server closes it or `seconds` pass.
    func rawExchange(_ bytes: [UInt8], seconds: Int = 20) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CLIError("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw CLIError("connect: \(errno)") }
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buffer[0 ..< n]
        }
        return String(decoding: received, as: UTF8.self)
    }
}
