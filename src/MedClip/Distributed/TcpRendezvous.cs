using System.Net;
using System.Net.Sockets;

namespace MedClip.Distributed;

/// <summary>
/// Hands a small secret (NCCL's unique id) from rank 0 to the other ranks of a torchrun-style launch: rank 0 listens on
/// MASTER_PORT, every other rank connects to MASTER_ADDR:MASTER_PORT (retrying while rank 0 starts), sends a magic
/// number, the world size and its rank, and receives the payload. Rank 0 returns once every rank has been served
/// exactly once; anyone who waits past the timeout gets one sentence naming the address.
/// </summary>
public static class TcpRendezvous
{
    private const int Magic = 0x4D43_4C50; // "MCLP"

    /// <summary>Rank 0: serves <paramref name="payload"/> to ranks 1 .. worldSize-1.</summary>
    public static void Serve(int port, int worldSize, byte[] payload, TimeSpan timeout)
    {
        // Both IPv4 and IPv6 clients where the host has IPv6, IPv4 alone otherwise.
        var listener = new TcpListener(Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any, port);
        if (Socket.OSSupportsIPv6) listener.Server.DualMode = true;
        listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        try
        {
            listener.Start();
        }
        catch (SocketException e)
        {
            throw new DistributedSetupException($"Rank 0 cannot listen on MASTER_PORT={port} ({e.Message}); pick a free port.");
        }
        using var deadline = new CancellationTokenSource(timeout);
        var served = new HashSet<int>();
        try
        {
            while (served.Count < worldSize - 1)
            {
                using var client = listener.AcceptTcpClientAsync(deadline.Token).AsTask().GetAwaiter().GetResult();
                using var stream = client.GetStream();
                stream.ReadTimeout = stream.WriteTimeout = (int)Math.Min(int.MaxValue, timeout.TotalMilliseconds);
                using var reader = new BinaryReader(stream);
                using var writer = new BinaryWriter(stream);
                int magic = reader.ReadInt32(), size = reader.ReadInt32(), rank = reader.ReadInt32();
                if (magic != Magic) continue;
                if (size != worldSize)
                    throw new DistributedSetupException($"The ranks disagree on the world size: {worldSize} on rank 0 but {size} on rank {rank}; set the same WORLD_SIZE everywhere.");
                if (rank < 1 || rank >= worldSize || !served.Add(rank))
                    throw new DistributedSetupException($"Rank {rank} joined twice or is outside 1..{worldSize - 1}; give every process its own RANK.");
                writer.Write(payload.Length);
                writer.Write(payload);
                writer.Flush();
            }
        }
        catch (OperationCanceledException)
        {
            throw new DistributedSetupException(
                $"Rank 0 waited {timeout.TotalSeconds:0} s on port {port} but only {served.Count} of the {worldSize - 1} other ranks arrived; check that every rank was started and can reach this host.");
        }
        finally
        {
            listener.Stop();
        }
    }

    /// <summary>Ranks 1 and up: fetches the payload from rank 0.</summary>
    public static byte[] Join(string address, int port, int worldSize, int rank, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(address, port);
                using var stream = client.GetStream();
                stream.ReadTimeout = stream.WriteTimeout = (int)Math.Min(int.MaxValue, Math.Max(1, (deadline - DateTime.UtcNow).TotalMilliseconds));
                using var writer = new BinaryWriter(stream);
                using var reader = new BinaryReader(stream);
                writer.Write(Magic);
                writer.Write(worldSize);
                writer.Write(rank);
                writer.Flush();
                int length = reader.ReadInt32();
                return reader.ReadBytes(length);
            }
            catch (Exception e) when (e is SocketException or IOException)
            {
                if (DateTime.UtcNow > deadline)
                    throw new DistributedSetupException($"Rank {rank} could not reach rank 0 at MASTER_ADDR={address} MASTER_PORT={port} within {timeout.TotalSeconds:0} s ({e.Message}).");
                Thread.Sleep(200);
            }
        }
    }
}
