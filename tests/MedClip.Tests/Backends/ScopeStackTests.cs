using MedClip.Backends;

namespace MedClip.Tests.Backends;

/// <summary>The per-thread nesting of memory scopes that the CPU buffer pool and the device arena share.</summary>
public class ScopeStackTests
{
    private sealed class Scope;

    [Fact]
    public void Innermost_IsTheLastOpenedOnTheCallingThread_AndNullOutsideEveryScope()
    {
        var stack = new ScopeStack<Scope>();
        Assert.Null(stack.Innermost());
        var (outer, inner) = (new Scope(), new Scope());
        stack.Open(outer);
        stack.Open(inner);
        Assert.Same(inner, stack.Innermost());
        stack.Close(inner, "test");
        Assert.Same(outer, stack.Innermost());
        stack.Close(outer, "test");
        Assert.Null(stack.Innermost());
    }

    [Fact]
    public void Close_AroundAScopeStillOpenOnItsThread_Throws_AndLeavesBothOpen()
    {
        var stack = new ScopeStack<Scope>();
        var (outer, inner) = (new Scope(), new Scope());
        stack.Open(outer);
        stack.Open(inner);
        var e = Assert.Throws<InvalidOperationException>(() => stack.Close(outer, "test memory"));
        Assert.Equal("A test memory scope was closed while a scope opened inside it on the same thread is still open.", e.Message);
        Assert.Same(inner, stack.Innermost());
    }

    [Fact]
    public void ScopesOfOtherThreads_NeitherOwnThisThreadsStorage_NorBlockItsClose()
    {
        var stack = new ScopeStack<Scope>();
        var mine = new Scope();
        stack.Open(mine);
        var theirs = new Scope();
        Scope? innermostThere = null;
        var thread = new Thread(() =>
        {
            stack.Open(theirs);
            innermostThere = stack.Innermost();
        });
        thread.Start();
        thread.Join();
        Assert.Same(theirs, innermostThere);
        Assert.Same(mine, stack.Innermost());
        stack.Close(mine, "test");
        Assert.Null(stack.Innermost());
        stack.Close(theirs, "test");
    }
}
