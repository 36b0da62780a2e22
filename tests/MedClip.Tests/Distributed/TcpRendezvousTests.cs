using System.Net;
using System.Net.Sockets;
using MedClip.Distributed;

namespace MedClip.Tests.Distributed;

public sealed class TcpRendezvousTests
{
    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    [Fact]
    public void EveryRank_ReceivesRankZerosBytes()
    {
        int port = FreePort();
        byte[] id = [.. Enumerable.Range(0, 128).Select(i => (byte)(i * 7))];
        var timeout = TimeSpan.FromSeconds(30);
        // The joining ranks start first: they retry until rank 0 listens.
        var joins = Enumerable.Range(1, 3).Select(rank => Task.Run(() => TcpRendezvous.Join("localhost", port, 4, rank, timeout))).ToArray();
        Thread.Sleep(300);
        TcpRendezvous.Serve(port, 4, id, timeout);
        Assert.All(joins, j => Assert.Equal(id, j.Result));
    }

    [Fact]
    public void MissingRanks_MakeRankZeroGiveUpWithOneSentence()
    {
        int port = FreePort();
        var e = Assert.Throws<DistributedSetupException>(() => TcpRendezvous.Serve(port, 3, new byte[128], TimeSpan.FromSeconds(1)));
        Assert.Contains("only 0 of the 2 other ranks arrived", e.Message);
    }
}
